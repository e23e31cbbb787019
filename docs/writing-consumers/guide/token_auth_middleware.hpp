// TokenAuthMiddleware: the user a `?token=...` of the connection's URL names.
#pragma once

#include <canal/consumers/async_websocket_consumer.hpp>
#include <canal/middleware/base_middleware.hpp>
#include <canal/middleware/user.hpp>

#include <map>
#include <string>

class TokenAuthMiddleware : public canal::BaseMiddleware {
public:
    using Tokens = std::map<std::string, canal::User, std::less<>>;

    TokenAuthMiddleware(canal::Application inner, Tokens tokens);

protected:
    canal::awaitable<void> populate_scope(canal::Scope& scope) const override;

private:
    std::shared_ptr<Tokens const> tokens_;
};

// Greets the user the token names; refuses anonymous connections (HTTP 403).
class GreeterConsumer : public canal::AsyncWebsocketConsumer {
protected:
    canal::awaitable<void> connect() override;
};
