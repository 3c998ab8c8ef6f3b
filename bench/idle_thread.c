// Preloaded into a server by bench/echo_perf.sh (`+thread` shapes): one extra thread that
// only sleeps, so a one-thread server runs as a two-thread process without time-sharing
// its CPU. The control for what being multi-threaded costs on its own: with the file
// table shared, every fd system call takes and drops a reference on its file (the
// kernel's fdget/fput), which a one-thread process skips.
#include <pthread.h>
#include <unistd.h>

static void *idle(void *arg) {
  (void)arg;
  for (;;) pause();
  return 0;
}

__attribute__((constructor)) static void start_idle_thread(void) {
  pthread_t t;
  if (pthread_create(&t, 0, idle, 0) == 0) pthread_detach(t);
}
