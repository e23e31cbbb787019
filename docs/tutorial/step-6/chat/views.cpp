// chat/views.cpp: the login page (Django's LoginView, cut down to what the chat needs).
#include "chat/views.hpp"

#include <canal/middleware/auth_middleware.hpp>
#include <canal/middleware/cookie_middleware.hpp>
#include <canal/middleware/csrf.hpp>

#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>

namespace chat {

namespace {

// Sends a whole response.
canal::awaitable<void> respond(canal::Send send, canal::HttpResponseStart start, std::string body) {
    canal::Event head = std::move(start);
    co_await send(std::move(head));
    canal::Event part = canal::HttpResponseBody{std::move(body), false};
    co_await send(std::move(part));
}

// Puts `value` in place of `name`, a {{...}} field of the page.
void fill(std::string& page, std::string_view name, std::string_view value) {
    page.replace(page.find(name), name.size(), value);
}

// The form, with a masked copy of the CSRF secret, whose cookie it sets.
canal::awaitable<void> send_form(canal::Send send, std::filesystem::path page, std::string secret,
                                 std::string error) {
    std::ifstream in(page);
    std::stringstream html;
    html << in.rdbuf();
    auto text = html.str();
    fill(text, "{{csrf_token}}", canal::csrf_mask(secret));
    fill(text, "{{error}}", error);
    canal::HttpResponseStart start;
    start.headers.emplace_back("content-type", "text/html; charset=utf-8");
    canal::set_cookie(start, canal::csrf_cookie_name, secret);
    co_await respond(std::move(send), std::move(start), std::move(text));
}

canal::awaitable<void> login_page(std::filesystem::path page,
                                  std::shared_ptr<canal::UserStore const> users, canal::Scope scope,
                                  canal::Receive receive, canal::Send send) {
    // The CSRF secret: from the cookie, or a new one for a first visit.
    auto cookie = scope.cookies.find(canal::csrf_cookie_name);
    bool const has_secret =
        cookie != scope.cookies.end() && canal::csrf_is_valid_secret(cookie->second);
    std::string secret = has_secret ? cookie->second : canal::csrf_new_secret();
    if (scope.method != "POST") {
        co_await send_form(std::move(send), page, std::move(secret), std::string());
        co_return;
    }
    // The form: username, password and csrfmiddlewaretoken, URL-encoded.
    auto event = co_await receive();
    auto const* request = std::get_if<canal::HttpRequest>(&event);
    std::string body = request != nullptr ? request->body : std::string();
    // Browsers send a space as '+': Boost.URL decodes it so when asked to. A malformed body
    // leaves the fields empty, and the CSRF check below refuses it.
    std::string username, password, token;
    boost::urls::encoding_opts form;
    form.space_as_plus = true;
    if (boost::urls::parse_query(body)) {
        for (auto const& field : boost::urls::params_view(body, form)) {
            if (field.key == "username") {
                username = field.value;
            } else if (field.key == "password") {
                password = field.value;
            } else if (field.key == canal::csrf_field_name) {
                token = field.value;
            }
        }
    }
    if (!has_secret || !canal::csrf_check(secret, token)) {
        canal::HttpResponseStart start{403, {{"content-type", "text/plain"}}};
        co_await respond(std::move(send), std::move(start), std::string("CSRF check failed\n"));
        co_return;
    }
    // PBKDF2 takes a while on purpose: aauthenticate() runs it on the handler pool.
    auto user = co_await canal::aauthenticate(users, username, password);
    if (!user) {
        co_await send_form(std::move(send), page, std::move(secret),
                           std::string("Wrong username or password."));
        co_return;
    }
    // A new session holding the username: SessionMiddleware saves it and sets its cookie.
    canal::login(scope, *user);
    canal::HttpResponseStart start{302, {{"location", "/chat/"}}};
    co_await respond(std::move(send), std::move(start), std::string());
}

} // namespace

canal::Application login_view(std::filesystem::path page,
                              std::shared_ptr<canal::UserStore const> users) {
    return [page, users](canal::Scope scope, canal::Receive receive, canal::Send send) {
        return login_page(page, users, std::move(scope), std::move(receive), std::move(send));
    };
}

} // namespace chat
