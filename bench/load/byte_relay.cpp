// The floor under any gateway in the load benchmark (bench/load/run.sh --relay): a TCP relay that copies
// bytes between each client connection and a connection of its own to the upstream, and does nothing
// else: no HTTP, no JSON, no routing, no accounting. A request through it pays what the extra hop costs
// on this machine (two more sends over loopback, each waking a process, and the relay's reads) and
// nothing a gateway adds on top, so at 1 connection its throughput bounds any gateway's from above.
// Like modelgate with its default io_spin_us, it polls for up to 100 µs before it sleeps in epoll_wait.
//
//   mg_bench_load_relay --port P --upstream-port U
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPollBeforeSleep = std::chrono::microseconds(100);

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

int listen_on(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address = loopback(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, 1024) != 0) return -1;
  return fd;
}

// Blocking sockets: epoll says when one has bytes, and a write of a few hundred bytes never waits.
int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void no_delay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

bool write_all(int fd, const char* data, ssize_t size) {
  while (size > 0) {
    ssize_t written = ::write(fd, data, static_cast<std::size_t>(size));
    if (written <= 0) return false;
    data += written;
    size -= written;
  }
  return true;
}

class Relay {
 public:
  Relay(int listen_fd, int upstream_port) : listen_fd_(listen_fd), upstream_port_(upstream_port), epoll_fd_(::epoll_create1(0)) {
    watch(listen_fd_);
  }

  void run() {
    Clock::time_point last_work = Clock::now();
    epoll_event events[64];
    for (;;) {
      bool polling = Clock::now() - last_work < kPollBeforeSleep;
      int n = ::epoll_wait(epoll_fd_, events, 64, polling ? 0 : -1);
      if (n <= 0) {
        if (polling) ::sched_yield();
        continue;
      }
      for (int i = 0; i < n; ++i) on_readable(events[i].data.fd);
      last_work = Clock::now();
    }
  }

 private:
  void watch(int fd) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }

  void on_readable(int fd) {
    if (fd == listen_fd_) return accept_client();
    auto peer = peer_of_.find(fd);
    if (peer == peer_of_.end()) return;
    ssize_t got = ::read(fd, buffer_, sizeof buffer_);
    if (got <= 0 || !write_all(peer->second, buffer_, got)) close_pair(fd, peer->second);
  }

  void accept_client() {
    int client = ::accept(listen_fd_, nullptr, nullptr);
    if (client < 0) return;
    int upstream = connect_to(upstream_port_);
    if (upstream < 0) return static_cast<void>(::close(client));
    no_delay(client);
    no_delay(upstream);
    peer_of_[client] = upstream;
    peer_of_[upstream] = client;
    watch(client);
    watch(upstream);
  }

  void close_pair(int a, int b) {
    peer_of_.erase(a);
    peer_of_.erase(b);
    ::close(a);  // closing also takes them out of the epoll set
    ::close(b);
  }

  int listen_fd_;
  int upstream_port_;
  int epoll_fd_;
  std::unordered_map<int, int> peer_of_;
  char buffer_[64 * 1024];
};

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int upstream_port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--port") port = std::atoi(argv[i + 1]);
    else if (flag == "--upstream-port") upstream_port = std::atoi(argv[i + 1]);
  }
  if (port <= 0 || upstream_port <= 0) {
    std::fprintf(stderr, "usage: mg_bench_load_relay --port P --upstream-port U\n");
    return 2;
  }
  int listen_fd = listen_on(port);
  if (listen_fd < 0) {
    std::perror("mg_bench_load_relay: listen");
    return 1;
  }
  Relay(listen_fd, upstream_port).run();
}
