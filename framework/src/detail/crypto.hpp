// OpenSSL helpers shared by the middleware and the layers: random bytes, hex, constant-time
// compare.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace canal::detail {

/** `n` bytes from OpenSSL's CSPRNG; throws canal::Error when it fails. */
std::string random_bytes(std::size_t n);

/**
 * `n` bytes (at most 256) from the same CSPRNG, served from a per-thread buffer that is
 * refilled 512 bytes at a time: for the short names made per connection (channel names),
 * where a RAND_bytes call each (with its fork check, a system call) costs more than the
 * name. Not for secrets kept for long (keys: random_bytes()); a process that forks must not
 * use it in both parent and child.
 */
std::string random_bytes_cached(std::size_t n);

/** Lower-case hex of `bytes`. */
std::string to_hex(std::string_view bytes);

/** The bytes of a hex string (either case), or nothing when it is not hex of even length. */
std::optional<std::string> from_hex(std::string_view hex);

/** True when `s` is `n` lower-case hex digits. */
bool is_lower_hex(std::string_view s, std::size_t n) noexcept;

/** Equality that takes the same time wherever the first difference is. */
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

} // namespace canal::detail
