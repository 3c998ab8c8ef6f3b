// Exact-count echo load for callgrind: N connections; warm up W s; quiesce (no message in
// flight); run `callgrind_control -z PID`; run M s; quiesce; `callgrind_control -d PID`.
// Prints the round trips of the measured window (every one of them inside it).
// usage: cgload PORT CONNS SIZE WARM MEASURE PID   (driven by bench/echo_callgrind.sh)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct { int fd; size_t got; int busy; } conn_t;
static conn_t *c; static int nconn, ep; static size_t size; static char *buf;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void send_one(int i) {
  size_t off = 0;
  while (off < size) { ssize_t w = write(c[i].fd, buf + off, size - off); if (w > 0) off += w; else if (errno != EAGAIN) { perror("write"); exit(1); } }
  c[i].busy = 1; c[i].got = 0;
}
// run until `until`; then stop sending and drain. Returns round trips completed.
static long phase(double secs) {
  long rts = 0; int busy = 0; double deadline = now() + secs; int sending = 1;
  for (int i = 0; i < nconn; i++) { send_one(i); busy++; }
  struct epoll_event evs[512];
  while (busy > 0) {
    if (sending && now() >= deadline) sending = 0;
    int n = epoll_wait(ep, evs, 512, 100);
    for (int k = 0; k < n; k++) {
      int i = evs[k].data.u32;
      for (;;) {
        ssize_t r = read(c[i].fd, buf, 65536);
        if (r < 0 && errno == EAGAIN) break;
        if (r <= 0) { fprintf(stderr, "read failed\n"); exit(1); }
        c[i].got += r;
        if (c[i].got == size) { rts++; c[i].busy = 0; if (sending) send_one(i); else busy--; break; }
      }
    }
  }
  return rts;
}
int main(int argc, char **argv) {
  int port = atoi(argv[1]); nconn = atoi(argv[2]); size = atol(argv[3]);
  double warm = atof(argv[4]), meas = atof(argv[5]); const char *pid = argv[6];
  buf = malloc(65536 > size ? 65536 : size); memset(buf, 'x', size);
  struct sockaddr_in sa = {0}; sa.sin_family = AF_INET; sa.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  c = calloc(nconn, sizeof *c); ep = epoll_create1(0);
  for (int i = 0; i < nconn; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0); int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
    fcntl(fd, F_SETFL, O_NONBLOCK); c[i].fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  phase(warm);
  char cmd[256]; snprintf(cmd, sizeof cmd, "callgrind_control -z %s >/dev/null", pid);
  if (system(cmd) != 0) return 1;
  long rts = phase(meas);
  snprintf(cmd, sizeof cmd, "callgrind_control -d %s >/dev/null", pid);
  if (system(cmd) != 0) return 1;
  printf("rts %ld\n", rts);
  return 0;
}
