// canal-bench: the latency histogram.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <utility>

namespace canal_bench {

// Latency histogram: log-linear buckets (32 per power of two, ~3 % wide), exact below 32 ns.

class Histogram {
public:
    void record(std::uint64_t v) {
        ++counts_[index(v)];
        ++count_;
        sum_ += static_cast<double>(v);
        max_ = std::max(max_, v);
    }

    [[nodiscard]] std::uint64_t count() const { return count_; }
    [[nodiscard]] std::uint64_t max() const { return max_; }
    [[nodiscard]] double mean() const {
        return count_ == 0 ? 0 : sum_ / static_cast<double>(count_);
    }

    /** The value below which a fraction q of the samples lie (a bucket's midpoint). */
    [[nodiscard]] double percentile(double q) const {
        if (count_ == 0) {
            return 0;
        }
        auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
        rank = std::clamp<std::uint64_t>(rank, 1, count_);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) {
                auto [low, high] = bounds(i);
                return std::min(static_cast<double>(max_),
                                (static_cast<double>(low) + static_cast<double>(high)) / 2);
            }
        }
        return static_cast<double>(max_);
    }

private:
    static constexpr unsigned sub_bits = 5;
    static constexpr std::uint64_t sub = std::uint64_t{1} << sub_bits;

    static std::size_t index(std::uint64_t v) {
        if (v < sub) {
            return static_cast<std::size_t>(v);
        }
        unsigned shift = static_cast<unsigned>(std::bit_width(v)) - 1 - sub_bits;
        return static_cast<std::size_t>((shift + 1) * sub + ((v >> shift) - sub));
    }

    static std::pair<std::uint64_t, std::uint64_t> bounds(std::size_t i) {
        std::uint64_t group = i / sub;
        std::uint64_t j = i % sub;
        if (group == 0) {
            return {j, j};
        }
        unsigned shift = static_cast<unsigned>(group - 1);
        return {(sub + j) << shift, ((sub + j + 1) << shift) - 1};
    }

    std::array<std::uint64_t, (64 - sub_bits + 1) * sub> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
    double sum_ = 0;
};

} // namespace canal_bench
