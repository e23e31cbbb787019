// chat/views.hpp: the login page.
#pragma once

#include <canal/core/application.hpp>
#include <canal/middleware/user.hpp>

#include <filesystem>
#include <memory>

namespace chat {

// GET: the login form in `page`. POST: checks the form's CSRF token and the password
// against `users`, logs the user in and redirects to /chat/. Needs AuthMiddlewareStack.
canal::Application login_view(std::filesystem::path page,
                              std::shared_ptr<canal::UserStore const> users);

} // namespace chat
