// WsTransport: a websocket connection's socket and its write side. Every write (the 101
// response, the application's frames, pongs, pings, the close frame) is appended, in call
// order, to one byte buffer; one write at a time carries all of it to the socket. Under load
// each syscall carries many frames (user-space coalescing, as uWebSockets corks), and the
// control frames stay in order with the data frames. Used by ws_session.cpp only, on the
// connection's strand.
#pragma once

#include <canal/core/scope.hpp>

#include "detail/notifier.hpp"
#include "server/frame_header.hpp"
#include "server/server_metrics.hpp"
#include "server/stream.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include <cstdint>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace canal::detail {

class WsTransport {
public:
    using executor_type = net::any_io_executor;

    explicit WsTransport(Stream stream) : socket_(std::move(stream)) {}

    /**
     * Where queued_bytes() and queued_frames() are published for the application, and the
     * server's metrics that count the bytes queued (null: none).
     */
    void publish_to(std::shared_ptr<OutboundQueue> queue, ServerMetrics* metrics) {
        published_ = std::move(queue);
        metrics_ = metrics;
        publish();
    }

    ~WsTransport() {
        if (metrics_ != nullptr && counted_ != 0) {
            metrics_->add(Count::outbound_bytes, -static_cast<std::int64_t>(counted_));
        }
    }

    WsTransport(WsTransport const&) = delete;
    WsTransport& operator=(WsTransport const&) = delete;

    executor_type get_executor() noexcept { return socket_.get_executor(); }
    /** The connection's stream (TLS or plain). */
    Stream& stream() noexcept { return socket_; }
    /** The socket under it. */
    Socket& socket() noexcept { return socket_.lowest(); }

    /**
     * Appends bytes that are not an application frame (the 101 response, a pong, a ping, the
     * close frame): written in order with the frames, not counted as queued messages.
     */
    void append_control(std::string_view bytes) {
        if (error_) {
            return;
        }
        pending_.append(bytes);
        mark_end(false);
        schedule_flush();
    }

    /** Appends one application frame (header built here, payload copied). */
    void append_frame(bool binary, std::string_view payload) {
        if (error_) {
            return;
        }
        append_frame_header(pending_, binary, payload.size());
        pending_.append(payload);
        mark_end(true);
        schedule_flush();
    }

    /** Application frames and bytes not yet taken by the socket. */
    [[nodiscard]] std::size_t queued_frames() const noexcept {
        return pending_frames_ + inflight_frames_;
    }
    [[nodiscard]] std::size_t queued_bytes() const noexcept {
        return pending_.size() + inflight_.size();
    }

    /** Waits until nothing is queued or being written (or writing failed). */
    awaitable<void> drain() {
        while (writing_ || flush_posted_ || (!pending_.empty() && !error_)) {
            co_await drained_.wait(socket_.get_executor());
        }
    }

    /** Drops what is queued (an overflow): the next frames written are the close frame's. */
    void discard_pending() {
        pending_.clear();
        pieces_.clear();
        pending_frames_ = 0;
        publish();
    }

private:
    // The write starts once the current handler is done, not at the first frame, and it
    // waits more turns of the event loop for as long as frames keep coming (up to a bound):
    // when the server is busy, each syscall then carries many frames (uWebSockets corks the
    // same way). Frames read in one batch reach the application a turn or two apart (reader,
    // inbox, handler), so the write goes after two turns in a row without a new frame: an
    // echo of five frames read at once is one syscall, not five. An idle connection's frame
    // goes two turns after it was sent.
    void schedule_flush() {
        if (writing_ || flush_posted_ || error_) {
            return;
        }
        flush_posted_ = true;
        deferrals_ = 0;
        quiet_turns_ = 0;
        frames_seen_ = pending_frames_;
        net::post(socket_.get_executor(), [this] { flush_step(); });
    }

    void flush_step() {
        if (pending_frames_ > frames_seen_) {
            frames_seen_ = pending_frames_;
            quiet_turns_ = 0;
        } else {
            ++quiet_turns_;
        }
        if (!error_ && quiet_turns_ < quiet_turns_before_write && deferrals_ < max_deferrals &&
            pending_.size() < coalesce_bytes) {
            ++deferrals_;
            net::post(socket_.get_executor(), [this] { flush_step(); });
            return;
        }
        flush_posted_ = false;
        flush();
        if (!writing_) {
            drained_.notify();
        }
    }

    static constexpr int max_deferrals = 16;
    static constexpr int quiet_turns_before_write = 2;
    static constexpr std::size_t coalesce_bytes = 64 * 1024;

    // Where each append ends in pending_, so writes (and discard_pending) cut between them.
    struct Piece {
        std::size_t end;
        bool frame; // an application frame (counted), or a control write
    };

    void mark_end(bool frame) {
        pieces_.push_back(Piece{pending_.size(), frame});
        pending_frames_ += frame ? 1 : 0;
        publish();
    }

    void publish() {
        if (published_) {
            published_->bytes.store(queued_bytes(), std::memory_order_relaxed);
            published_->frames.store(queued_frames(), std::memory_order_relaxed);
        }
        if (metrics_ != nullptr) {
            auto const now = queued_bytes();
            if (now != counted_) {
                metrics_->add(Count::outbound_bytes,
                              static_cast<std::int64_t>(now) - static_cast<std::int64_t>(counted_));
                counted_ = now;
            }
        }
    }

    void flush() {
        if (writing_ || pending_.empty() || error_) {
            return;
        }
        if (pieces_.back().end <= max_write) {
            std::swap(pending_, inflight_);
            inflight_frames_ = pending_frames_;
            pending_frames_ = 0;
            pieces_.clear();
        } else {
            // A backlog goes in slices of whole appends, so that a close frame queued after
            // an overflow is not stuck behind megabytes a slow reader may never take.
            std::size_t cut = 0;
            std::size_t frames = 0;
            std::size_t taken = 0;
            while (taken < pieces_.size() && (cut == 0 || pieces_[taken].end <= max_write)) {
                cut = pieces_[taken].end;
                frames += pieces_[taken].frame ? 1 : 0;
                ++taken;
            }
            inflight_.assign(pending_, 0, cut);
            pending_.erase(0, cut);
            pieces_.erase(pieces_.begin(), pieces_.begin() + static_cast<std::ptrdiff_t>(taken));
            for (auto& piece : pieces_) {
                piece.end -= cut;
            }
            inflight_frames_ = frames;
            pending_frames_ -= frames;
        }
        writing_ = true;
        net::async_write(socket_, net::buffer(inflight_),
                         [this](boost::system::error_code ec, std::size_t) { written(ec); });
    }

    void written(boost::system::error_code ec) {
        writing_ = false;
        inflight_frames_ = 0;
        inflight_.clear();
        if (inflight_.capacity() > retained_capacity ||
            (pending_.empty() && inflight_.capacity() <= small_capacity)) {
            // A burst's buffer is not kept for an idle connection, nor a small one when
            // nothing follows (the handshake's response, a chat message): a malloc for the
            // next write costs less than the bytes every idle connection would keep.
            std::string().swap(inflight_);
            if (pieces_.empty()) {
                std::vector<Piece>().swap(pieces_);
            }
        }
        if (ec) {
            error_ = ec;
            discard_pending();
        } else {
            flush();
        }
        publish();
        drained_.notify();
    }

    static constexpr std::size_t retained_capacity = 64 * 1024;
    static constexpr std::size_t small_capacity = 512;
    static constexpr std::size_t max_write = 64 * 1024;

    Stream socket_;
    std::string pending_;  // appended, waiting for the write in flight
    std::string inflight_; // being written
    std::vector<Piece> pieces_;
    std::size_t pending_frames_ = 0;
    std::size_t inflight_frames_ = 0;
    bool writing_ = false;
    bool flush_posted_ = false;
    int deferrals_ = 0;
    int quiet_turns_ = 0;
    std::size_t frames_seen_ = 0;
    boost::system::error_code error_;
    // Made by the first drain() (the connection's close): none while it is open.
    LazyNotifier drained_;
    std::shared_ptr<OutboundQueue> published_;
    ServerMetrics* metrics_ = nullptr;
    std::size_t counted_ = 0; // the queued bytes metrics_ was last told of
};

} // namespace canal::detail
