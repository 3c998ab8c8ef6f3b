// The floor for an N-thread echo server: N threads in one process, each running the
// bare-epoll loop of ../shared/bench/limit_epoll.c (no runtime; one read and one write per
// readiness event, level-triggered) on its own SO_REUSEPORT listener, as simul's `Loops`
// and two tokio current_thread runtimes do. A one-thread floor does not pay what any
// multi-threaded server pays in the kernel: with the file table shared, each descriptor
// call takes and drops a reference on its file, and threads time-sharing one CPU switch
// between them. This is what a 2-loop server is compared against to ask "at the floor?".
// usage: floor_threads PORT [THREADS]   (default 2)
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;

static int listener(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
  struct sockaddr_in addr = {0};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) || listen(fd, 4096)) {
    perror("floor_threads: bind/listen");
    exit(1);
  }
  return fd;
}

static void *serve(void *arg) {
  int lfd = (int)(long)arg, on = 1;
  int ep = epoll_create1(0);
  struct epoll_event add = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &add);
  static __thread char data[65536];
  struct epoll_event ready[512];
  for (;;) {
    int n = epoll_wait(ep, ready, 512, -1);
    for (int i = 0; i < n; i++) {
      int fd = ready[i].data.fd;
      if (fd == lfd) {
        for (int c; (c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0;) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
          struct epoll_event conn = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &conn);
        }
        continue;
      }
      ssize_t got = read(fd, data, sizeof data);
      if (got == 0 || (got < 0 && errno != EAGAIN)) {
        close(fd);
        continue;
      }
      for (ssize_t sent = 0; got > 0 && sent < got;) {
        ssize_t w = write(fd, data + sent, got - sent);
        if (w > 0) sent += w;
        else if (errno != EAGAIN) break;
      }
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  port = argc > 1 ? atoi(argv[1]) : 9000;
  int threads = argc > 2 ? atoi(argv[2]) : 2;
  if (threads < 1) threads = 1;
  // Every listener is bound before any thread serves, so the first connection may go to any.
  int fds[threads];
  for (int t = 0; t < threads; t++) fds[t] = listener();
  pthread_t ids[threads];
  for (int t = 1; t < threads; t++) pthread_create(&ids[t], NULL, serve, (void *)(long)fds[t]);
  serve((void *)(long)fds[0]);
  return 0;
}
