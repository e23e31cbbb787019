// aauthenticate: the password check on the handler pool, handed back to the caller's executor.
#include <canal/middleware/user.hpp>

#include <canal/sync/sync_to_async.hpp>

#include <utility>

namespace canal {

awaitable<std::optional<User>> aauthenticate(std::shared_ptr<UserStore const> users,
                                             std::string username, std::string password) {
    // Not a coroutine: the arguments go straight into the callable, not into a coroutine
    // frame. sync_to_async keeps the caller's io_context alive until its result is posted,
    // and a stopping Server waits for that post before destroying its io_context.
    auto check = [users = std::move(users), username = std::move(username),
                  password = std::move(password)] {
        return users->authenticate(username, password);
    };
    return sync_to_async(std::move(check));
}

} // namespace canal
