// Settings::from_args: the command-line flags shared by every canal server.
#include <canal/server/settings.hpp>

#include <boost/program_options.hpp>

#include <cstdlib>
#include <iostream>

namespace canal {

namespace po = boost::program_options;

Settings Settings::from_args(int argc, char** argv, std::vector<Flag>* extra) {
    Settings s;
    unsigned port = s.port;
    unsigned long long max_message = s.max_message_size;
    unsigned long long queue = s.outbound_queue_limit;
    unsigned long long queue_bytes = s.outbound_queue_bytes;
    std::string policy = "close";
    po::options_description opts("canal server options");
    opts.add_options()("help,h", "print this help and exit")(
        "host", po::value(&s.host)->default_value(s.host), "address to listen on")(
        "port", po::value(&port)->default_value(port), "port to listen on (0: any free port)")(
        "threads", po::value(&s.threads)->default_value(0), "I/O threads (0: one per core)")(
        "max-message-size", po::value(&max_message)->default_value(max_message),
        "largest websocket message in bytes (larger: close 1009)")(
        "outbound-queue", po::value(&queue)->default_value(queue),
        "messages queued per connection before the overflow policy applies")(
        "outbound-queue-bytes", po::value(&queue_bytes)->default_value(queue_bytes),
        "bytes queued per connection before the overflow policy applies")(
        "overflow", po::value(&policy)->default_value(policy),
        "when a client reads too slowly: close (1008) or drop")(
        "handler-threads", po::value(&s.handler_threads)->default_value(0),
        "threads for sync consumers and sync_to_async (0: twice the cores, at least 4)")(
        "access-log", po::bool_switch(&s.access_log), "log requests and connections")(
        "layer", po::value(&s.layer)->composing(),
        "channel layer: memory (the default), or redis://HOST:PORT[/DB]; repeat for shards");
    if (extra != nullptr) {
        for (auto& flag : *extra) {
            opts.add_options()(flag.name.c_str(),
                               po::value(&flag.value)->default_value(flag.value),
                               flag.help.c_str());
        }
    }
    po::variables_map vm;
    try {
        auto parsed = po::command_line_parser(argc, argv).options(opts).allow_unregistered().run();
        po::store(parsed, vm);
        po::notify(vm);
        for (auto const& opt : parsed.options) {
            if (opt.unregistered) {
                throw po::error("unknown option '" + opt.string_key + "'");
            }
        }
        if (port > 65535) {
            throw po::error("--port must be 0..65535");
        }
        if (policy != "close" && policy != "drop") {
            throw po::error("--overflow must be 'close' or 'drop'");
        }
        if (queue == 0) {
            throw po::error("--outbound-queue must be at least 1");
        }
        if (queue_bytes == 0) {
            throw po::error("--outbound-queue-bytes must be at least 1");
        }
    } catch (po::error const& e) {
        std::cerr << argv[0] << ": " << e.what() << "\n" << opts;
        std::exit(2);
    }
    if (vm.count("help") != 0U) {
        std::cout << opts;
        std::exit(0);
    }
    s.port = static_cast<unsigned short>(port);
    s.max_message_size = max_message;
    s.outbound_queue_limit = queue;
    s.outbound_queue_bytes = queue_bytes;
    s.overflow_policy = policy == "drop" ? OverflowPolicy::drop : OverflowPolicy::close;
    return s;
}

} // namespace canal
