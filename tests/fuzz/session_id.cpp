// Fuzz target: the session cookie and the session data behind it, through the real
// AuthMiddlewareStack (cookies, session id checks, session loading, the logged-in user,
// saving and the Set-Cookie answer). Input: the Cookie header, then on the next lines the
// session data as a store outside the process holds it (decoded as RedisSessionStore does).
#include <canal/middleware/auth_middleware.hpp>

#include <canal/core/event.hpp>
#include <canal/middleware/session.hpp>
#include <canal/middleware/session_store.hpp>

#include "middleware/session_data.hpp"

#include "fuzz_input.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <memory>
#include <string>

namespace {

/** One stored session, whatever key is asked for: its data is the fuzz input. */
class FuzzStore : public canal::SessionStore {
public:
    explicit FuzzStore(std::string text) : text_(std::move(text)) {}
    canal::awaitable<std::optional<boost::json::object>> load(std::string key) override {
        if (!canal::Session::is_valid_key(key)) {
            canal::fuzz::broken("the session middleware loaded an invalid session key");
        }
        co_return canal::detail::decode_session_data(text_);
    }
    canal::awaitable<void> save(std::string key, boost::json::object, std::chrono::seconds) override {
        if (!canal::Session::is_valid_key(key)) {
            canal::fuzz::broken("the session middleware saved under an invalid session key");
        }
        co_return;
    }
    canal::awaitable<void> remove(std::string) override { co_return; }

private:
    std::string text_;
};

class OneUser : public canal::UserStore {
public:
    std::optional<canal::User> get(std::string_view username) const override {
        if (username == "alice") {
            return canal::User{"alice", false};
        }
        return std::nullopt;
    }
    std::optional<canal::User> authenticate(std::string_view, std::string_view) const override {
        return std::nullopt;
    }
};

/** Writes to the session and answers, so that the session is saved and its cookie set. */
canal::awaitable<void> view(canal::Scope scope, canal::Receive, canal::Send send) {
    if (!scope.user || (scope.user->is_authenticated() && scope.user->username != "alice")) {
        canal::fuzz::broken("the user is neither anonymous nor one the store knows");
    }
    scope.session->set("visits", boost::json::value(1));
    canal::Event start = canal::HttpResponseStart{200, {}};
    co_await send(std::move(start));
}

// Free functions, not lambdas: g++ 12 gives two coroutine lambdas of an extern "C" function
// the same symbol.
canal::awaitable<canal::Event> disconnected() { co_return canal::HttpDisconnect{}; }
canal::awaitable<void> discard(canal::Event /*event*/) { co_return; }

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
    auto const input = canal::fuzz::text(data, size);
    auto const nl = input.find('\n');
    auto const cookie = input.substr(0, nl);
    auto const stored = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

    canal::Scope scope;
    scope.type = "http";
    scope.method = "GET";
    scope.path = "/";
    scope.headers.emplace_back("cookie", std::string(cookie));
    canal::AuthMiddlewareStack stack(&view, std::make_shared<FuzzStore>(std::string(stored)),
                                     std::make_shared<OneUser const>());
    canal::Receive receive = &disconnected;
    canal::Send send = &discard;
    boost::asio::io_context ctx;
    std::exception_ptr failure;
    boost::asio::co_spawn(ctx, stack(std::move(scope), std::move(receive), std::move(send)),
                          [&](std::exception_ptr e) { failure = e; });
    ctx.run();
    if (failure) {
        std::rethrow_exception(failure); // nothing here may throw: let the fuzzer see it
    }
    return 0;
}
