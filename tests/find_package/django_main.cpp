// A program built against the installed canal::django: a Django-signed value round trip.
#include <canal/django.hpp> // canal::django's headers, and canal's

#include <boost/json/value.hpp>

#include <chrono>
#include <iostream>

int main() {
    auto const now = std::chrono::system_clock::now();
    boost::json::value const value = "hello";
    auto const signed_value = canal::django::dumps(value, "secret", "salt", true, now);
    bool const ok = canal::django::loads(signed_value, "secret", "salt", std::nullopt, now) == value;
    std::cout << (ok ? "django_consumer: ok\n" : "django_consumer: round trip failed\n");
    return ok ? 0 : 1;
}
