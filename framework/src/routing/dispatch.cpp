// Internal: the coroutines a router hands back once it has picked an application.
#include "dispatch.hpp"

#include <utility>

namespace canal::detail {

awaitable<void> run_routed(Application app, Scope scope, Receive receive, Send send) {
    co_await app(std::move(scope), std::move(receive), std::move(send));
}

awaitable<void> fail_routing(std::exception_ptr error) {
    std::rethrow_exception(std::move(error));
    co_return;
}

} // namespace canal::detail
