#include "detail/doorbell.hpp"

#include <boost/asio/post.hpp>

#include <mutex>
#include <vector>

namespace canal::detail {

/**
 * The doorbells of one execution context. A parked waiter's handler owns its coroutine,
 * which may own the doorbell: nothing else would destroy it when the context goes away
 * with the waiter still parked, so the context's shutdown does (as it does a timer's).
 */
class DoorbellService : public net::execution_context::service {
public:
    /** The service's key. */
    static net::execution_context::id id;

    explicit DoorbellService(net::execution_context& context) : service(context) {}

    void add(Doorbell& bell) {
        std::lock_guard lock(mutex_);
        bell.next_ = head_;
        if (head_ != nullptr) {
            head_->prev_ = &bell;
        }
        head_ = &bell;
    }

    void remove(Doorbell& bell) noexcept {
        std::lock_guard lock(mutex_);
        if (bell.prev_ != nullptr) {
            bell.prev_->next_ = bell.next_;
        } else if (head_ == &bell) {
            head_ = bell.next_;
        }
        if (bell.next_ != nullptr) {
            bell.next_->prev_ = bell.prev_;
        }
        bell.prev_ = bell.next_ = nullptr;
    }

private:
    void shutdown() override {
        // Taken out first: destroying a handler may destroy doorbells (remove() locks).
        std::vector<Doorbell::Handler> parked;
        {
            std::lock_guard lock(mutex_);
            for (auto* bell = head_; bell != nullptr; bell = bell->next_) {
                if (bell->handler_) {
                    parked.push_back(std::move(*bell->handler_));
                    bell->handler_.reset();
                }
            }
        }
        parked.clear();
    }

    std::mutex mutex_;
    Doorbell* head_ = nullptr;
};

net::execution_context::id DoorbellService::id;

Doorbell::Doorbell(net::any_io_executor const& ex)
    : service_(net::use_service<DoorbellService>(net::query(ex, net::execution::context))) {
    service_.add(*this);
}

Doorbell::~Doorbell() { service_.remove(*this); }

void Doorbell::park(Handler handler) {
    auto slot = handler.get_cancellation_slot();
    if (slot.is_connected()) {
        // The slot keeps this handler until the waiter's next operation replaces it: it is
        // not cleared from inside itself.
        slot.assign([this](net::cancellation_type type) {
            if ((type & net::cancellation_type::terminal) != net::cancellation_type::none) {
                complete(false);
            }
        });
    }
    handler_.emplace(std::move(handler));
}

void Doorbell::complete(bool clear_slot) {
    if (!handler_) {
        return;
    }
    Handler handler = std::move(*handler_);
    handler_.reset();
    auto slot = handler.get_cancellation_slot();
    if (clear_slot && slot.is_connected()) {
        slot.clear(); // its handler refers to this doorbell
    }
    // On the coroutine's own executor, never inline.
    net::post(std::move(handler));
}

} // namespace canal::detail
