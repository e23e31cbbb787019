// Django's CSRF tokens as Django 3.2 makes them (django.middleware.csrf): for forms that a
// canal page posts to the Django site, with the site's own csrftoken cookie.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace canal::django {

/**
 * The CSRF secret held by a value of Django's `csrftoken` cookie: Django 3.2 stores a masked
 * token (64 letters and digits), Django 4.1+ the secret itself (32). Nothing for anything else.
 */
std::optional<std::string> csrf_secret_from_cookie(std::string_view cookie);

/**
 * A fresh token for a form's `csrfmiddlewaretoken` that Django accepts with `secret`
 * (`_mask_cipher_secret`: a random 32-character mask, then the secret shifted by it), as
 * `{% csrf_token %}` writes. `secret` must be 32 letters and digits.
 */
std::string csrf_mask(std::string_view secret);

/** The secret of a 64-character masked token (`_unmask_cipher_token`). */
std::string csrf_unmask(std::string_view token);

} // namespace canal::django
