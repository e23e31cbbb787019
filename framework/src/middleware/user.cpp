// aauthenticate: the password check on the handler pool, handed back to the caller's executor.
#include <canal/middleware/user.hpp>

#include <canal/sync/handler_pool.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/strand.hpp>

#include <exception>
#include <utility>

namespace canal {

namespace {

using Signature = void(std::exception_ptr, std::optional<User>);

template <typename Handler>
struct Job {
    Handler handler;
    // Keeps the io_context's run() from returning while the check runs; released on an I/O
    // thread, never on the pool thread (the io_context may be gone by the time that thread
    // would release it: a server stops with io_context::stop(), whatever the work count).
    net::any_io_executor work;
    std::shared_ptr<UserStore const> users;
    std::string username;
    std::string password;
    std::exception_ptr error;
    std::optional<User> result;
};

template <unsigned Bits>
using IoExecutor = net::io_context::basic_executor_type<std::allocator<void>, Bits>;

template <unsigned Bits>
net::io_context* context_if(net::any_io_executor const& ex) {
    if (auto const* strand = ex.target<net::strand<IoExecutor<Bits>>>()) {
        return &strand->get_inner_executor().context();
    }
    if (auto const* plain = ex.target<IoExecutor<Bits>>()) {
        return &plain->context();
    }
    return nullptr;
}

// The io_context behind `ex` (plain or through a strand, any property bits), or nullptr.
net::io_context* io_context_of(net::any_io_executor const& ex) {
    net::io_context* found = context_if<0>(ex);
    found = found != nullptr ? found : context_if<1>(ex);
    found = found != nullptr ? found : context_if<4>(ex);
    found = found != nullptr ? found : context_if<5>(ex);
    return found;
}

struct Initiate {
    template <typename Handler>
    void operator()(Handler handler, std::shared_ptr<UserStore const> users, std::string username,
                    std::string password) const {
        auto ex = net::get_associated_executor(handler);
        // On an io_context (canal's server), work is counted on the context itself, whose
        // untracked executor is a plain pointer; other executors are used as they are.
        auto* ioc = io_context_of(ex);
        net::any_io_executor work =
            ioc != nullptr ? net::any_io_executor(net::prefer(
                                 ioc->get_executor(), net::execution::outstanding_work.tracked))
                           : net::prefer(ex, net::execution::outstanding_work.tracked);
        net::any_io_executor target =
            ioc != nullptr ? net::any_io_executor(ioc->get_executor())
                           : net::prefer(ex, net::execution::outstanding_work.untracked);
        auto job = std::make_shared<Job<Handler>>(Job<Handler>{std::move(handler),
                                                               std::move(work),
                                                               std::move(users),
                                                               std::move(username),
                                                               std::move(password),
                                                               {},
                                                               {}});
        detail::post_to_handler_pool([job, target]() mutable {
            try {
                job->result = job->users->authenticate(job->username, job->password);
            } catch (...) {
                job->error = std::current_exception();
            }
            // `target` is untracked: this thread keeps nothing that touches the io_context
            // once the job is posted.
            net::post(target, [job = std::move(job)]() mutable {
                auto handler = std::move(job->handler);
                auto error = job->error;
                auto result = std::move(job->result);
                auto handler_ex = net::get_associated_executor(handler);
                net::dispatch(handler_ex, [handler = std::move(handler), error,
                                           result = std::move(result)]() mutable {
                    std::move(handler)(error, std::move(result));
                });
                job.reset(); // the tracked work ends here, on an I/O thread
            });
        });
    }
};

} // namespace

awaitable<std::optional<User>> aauthenticate(std::shared_ptr<UserStore const> users,
                                             std::string username, std::string password) {
    // Not a coroutine: the arguments go straight into the job, not into a coroutine frame.
    return net::async_initiate<decltype(use_awaitable) const, Signature>(
        Initiate{}, use_awaitable, std::move(users), std::move(username), std::move(password));
}

} // namespace canal
