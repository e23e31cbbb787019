// ServerMetrics: a server's counters, kept per I/O thread so that counting a message costs
// two plain memory operations and no shared cache line (each thread writes only its own
// shard; a scrape adds the shards up). Threads that are not the server's (a handler pool's)
// count in a shared shard with atomic additions.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace canal::detail {

/** What a server counts. Gauges are kept as sums of +n and -n (modulo 2^64). */
enum class Count : std::size_t {
    connections_accepted,
    http_1xx,
    http_2xx,
    http_3xx,
    http_4xx,
    http_5xx,
    handshake_accepted,
    handshake_refused, // the application refused or failed before accepting
    handshake_invalid, // not a valid upgrade (400, 426), over a limit, shutting down
    handshake_timeout, // the application did not answer in time
    messages_in,
    bytes_in,
    messages_out,
    bytes_out,
    messages_dropped,  // OverflowPolicy::drop
    overflow_closes,   // 1008: outbound queue full
    websockets_open,   // gauge
    outbound_bytes,    // gauge: bytes queued for clients, not yet taken by their sockets
    close_first,       // websockets ended, by close code: close_buckets entries from here
};

/** The close codes counted one by one (1000..1015), then 3xxx, 4xxx and the rest. */
inline constexpr std::size_t close_buckets = 19;
/** The bucket of close code `code` (relative to Count::close_first). */
std::size_t close_bucket(int code) noexcept;
/** The label of bucket `i`: "1000"..."1015", "3xxx", "4xxx", "other". */
std::string close_bucket_label(std::size_t i);

inline constexpr std::size_t count_slots = static_cast<std::size_t>(Count::close_first) + close_buckets;

class ServerMetrics {
public:
    ServerMetrics();
    ~ServerMetrics();
    ServerMetrics(ServerMetrics const&) = delete;
    ServerMetrics& operator=(ServerMetrics const&) = delete;

    /** Gives the calling thread (one of the server's I/O threads) a shard of its own. */
    void attach_thread();

    /** Adds `n` (negative for a gauge going down) to `what`. Any thread. */
    void add(Count what, std::int64_t n = 1) noexcept { add_slot(static_cast<std::size_t>(what), n); }
    /** Counts a websocket that ended with `code`. */
    void count_close(int code) noexcept {
        add_slot(static_cast<std::size_t>(Count::close_first) + close_bucket(code), 1);
    }
    /** Counts an HTTP response with `status`. */
    void count_http(int status) noexcept;

    /** The sum over every shard of slot `i` (a Count, or close_first + bucket). */
    [[nodiscard]] std::uint64_t total(std::size_t i) const;
    [[nodiscard]] std::uint64_t total(Count what) const { return total(static_cast<std::size_t>(what)); }

private:
    struct alignas(64) Shard {
        std::array<std::atomic<std::uint64_t>, count_slots> slots{};
    };

    void add_slot(std::size_t i, std::int64_t n) noexcept;

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Shard>> shards_; // guarded by mutex_ (the vector, not the slots)
    Shard shared_;
};

} // namespace canal::detail
