// TokenAuthMiddleware and the consumer behind it.
#include "guide/token_auth_middleware.hpp"

#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

#include <memory>
#include <string>
#include <utility>

TokenAuthMiddleware::TokenAuthMiddleware(canal::Application inner, Tokens tokens)
    : BaseMiddleware(std::move(inner)), tokens_(std::make_shared<Tokens const>(std::move(tokens))) {
}

canal::awaitable<void> TokenAuthMiddleware::populate_scope(canal::Scope& scope) const {
    // The query string is percent-encoded ("token=a%2Bb" is the token "a+b"); one that is
    // not well-formed names nobody.
    canal::User user; // anonymous
    if (auto query = boost::urls::parse_query(scope.query_string)) {
        for (auto const& param : boost::urls::params_view(*query)) {
            if (param.key != "token") {
                continue;
            }
            if (auto found = tokens_->find(param.value); found != tokens_->end()) {
                user = found->second;
            }
        }
    }
    scope.user = std::make_shared<canal::User const>(std::move(user));
    co_return;
}

canal::awaitable<void> GreeterConsumer::connect() {
    if (!scope().user || !scope().user->is_authenticated()) {
        throw canal::DenyConnection();
    }
    co_await accept();
    auto greeting = "hello, " + scope().user->username;
    co_await send(std::move(greeting));
}
