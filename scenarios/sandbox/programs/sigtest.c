/*
 * sigtest: signals as a program sees them.  Its output must be identical natively and under the
 * sandbox (the rows compare them byte for byte): siginfo of a signal sent to itself, the FPU/SSE
 * state of code interrupted asynchronously (setitimer while ring 3 spins with a value in xmm7),
 * sigaltstack, SA_RESTART and EINTR, blocked then unblocked signals, SIGSEGV/SIGFPE/SIGILL/SIGTRAP
 * from faults with their si_code and si_addr, resuming after a fault by editing the ucontext's rip,
 * nested handlers, SA_RESETHAND, fork with exit statuses and deaths by signal.
 * `sigtest threads` tries pthread_create (the sandbox refuses threads: EPERM).
 * `sigtest abort` ends by SIGABRT (the exit must look the same from outside).
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <sys/time.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "util.h"

static volatile int *volatile bad_ptr = (volatile int *)0x10;
static volatile sig_atomic_t hits, order[8], norder;
static volatile siginfo_t last;
static sigjmp_buf jb;
static char *altstack;
static volatile int on_alt;
static int pipefd[2];

static const char *code_name(int sig, int code)
{
	if (code == SI_USER) return "SI_USER";
	if (code == SI_TKILL) return "SI_TKILL";
	if (code == SI_KERNEL) return "SI_KERNEL";
	if (sig == SIGSEGV) return code == SEGV_MAPERR ? "SEGV_MAPERR" : code == SEGV_ACCERR ? "SEGV_ACCERR" : "?";
	if (sig == SIGFPE) return code == FPE_INTDIV ? "FPE_INTDIV" : "?";
	if (sig == SIGILL) return code == ILL_ILLOPN ? "ILL_ILLOPN" : "?";
	return "?";
}

static void on_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	last = *si;
	hits++;
	order[norder++ & 7] = sig;
}

static void on_jump(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	last = *si;
	siglongjmp(jb, sig);
}

static void on_alt_handler(int sig)
{
	char here;

	(void)sig;
	on_alt = &here >= altstack && &here < altstack + 65536;
}

static void on_skip(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;

	(void)sig;
	last = *si;
	uc->uc_mcontext.gregs[REG_RIP] += 2;	/* skip "mov (%rax), %eax" (8b 00) */
	hits++;
}

static void on_alarm_write(int sig)
{
	(void)sig;
	if (write(pipefd[1], "x", 1) != 1)
		_exit(90);
}

static void on_clobber(int sig)
{
	(void)sig;
	/* a handler that uses SSE itself: the interrupted code's xmm7 must not see this */
	__asm__ volatile("movq %0, %%xmm7" : : "r"(0x1111111111111111ULL) : "xmm7");
	hits++;
}

static void on_usr1_nest(int sig)
{
	order[norder++ & 7] = sig;
	raise(SIGUSR2);
	order[norder++ & 7] = 100 + sig;
}

static void on_usr2_nest(int sig)
{
	order[norder++ & 7] = sig;
}

static void setup(int sig, void (*h)(int, siginfo_t *, void *), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = h;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void setup_plain(int sig, void (*h)(int), int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void timer_us(long us)
{
	struct itimerval it = { { 0, 0 }, { 0, us } };

	setitimer(ITIMER_REAL, &it, NULL);
}

/* ---- threads: a mutex-protected counter, a blocking read, a signal to one thread, exit values ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static pthread_t target;
static volatile int on_target;

static void *worker(void *a)
{
	long i, id = (long)a;

	for (i = 0; i < 1000; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
		if (i % 250 == 0)
			(void)getppid();
	}
	return (void *)(id * 10);
}

static void *reader(void *a)
{
	char buf[16] = "";
	ssize_t n;

	(void)a;
	n = read(pipefd[0], buf, sizeof(buf) - 1);
	return strdup(n > 0 ? buf : "(nothing)");
}

static void on_usr1_thread(int sig)
{
	(void)sig;
	on_target = pthread_equal(pthread_self(), target);
}

static void *waiter(void *a)
{
	(void)a;
	while (!on_target)
		usleep(1000);
	return NULL;
}

static int threads_test(void)
{
	pthread_t t[4], r, w;
	void *v;
	long sum = 0, i;
	int e;

	for (i = 0; i < 4; i++) {
		e = pthread_create(&t[i], NULL, worker, (void *)i);
		if (e) {
			printf("pthread_create: %s\n", strerror(e));
			return 0;
		}
	}
	for (i = 0; i < 4; i++) {
		pthread_join(t[i], &v);
		sum += (long)v;
	}
	printf("4 threads: counter %ld, exit values sum %ld\n", counter, sum);
	if (pipe(pipefd))
		return 91;
	pthread_create(&r, NULL, reader, NULL);
	usleep(20000);
	if (write(pipefd[1], "hello thread", 12) != 12)
		return 92;
	pthread_join(r, &v);
	printf("blocking read in a thread: %s\n", (char *)v);
	free(v);
	setup_plain(SIGUSR1, on_usr1_thread, 0);
	pthread_create(&w, NULL, waiter, NULL);
	target = w;
	pthread_kill(w, SIGUSR1);
	pthread_join(w, NULL);
	printf("pthread_kill: handled on the target thread=%d\n", (int)on_target);
	printf("done\n");
	return 0;
}

int main(int argc, char **argv)
{
	volatile int zero = 0;
	uint64_t x7;
	sigset_t set;
	struct sigaction q;
	ssize_t n;
	char c;
	int status, sig;
	pid_t pid;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && !strcmp(argv[1], "threads"))
		return threads_test();
	if (argc > 1 && !strcmp(argv[1], "abort")) {
		printf("about to abort\n");
		abort();
	}

	/* 1. a signal to itself, with its siginfo */
	setup(SIGUSR1, on_info, 0);
	kill(getpid(), SIGUSR1);
	printf("usr1: hits=%d signo=%d code=%s pid_is_self=%d\n", (int)hits, last.si_signo,
	       code_name(SIGUSR1, last.si_code), last.si_pid == getpid());

	/* 2. an asynchronous signal while the program computes with xmm7 */
	hits = 0;
	setup_plain(SIGALRM, on_clobber, 0);
	__asm__ volatile("movq %0, %%xmm7" : : "r"(0x0123456789abcdefULL) : "xmm7");
	timer_us(20000);
	while (!hits)
		__asm__ volatile("pause" ::: "memory");
	__asm__ volatile("movq %%xmm7, %0" : "=r"(x7));
	printf("async signal: handled=%d xmm7 preserved=%d\n", (int)hits, x7 == 0x0123456789abcdefULL);

	/* 3. sigaltstack */
	altstack = malloc(65536);
	{
		stack_t ss = { .ss_sp = altstack, .ss_size = 65536, .ss_flags = 0 };

		sigaltstack(&ss, NULL);
	}
	setup_plain(SIGUSR2, on_alt_handler, SA_ONSTACK);
	raise(SIGUSR2);
	printf("sigaltstack: handler on it=%d\n", (int)on_alt);

	/* 4. SA_RESTART and EINTR */
	if (pipe(pipefd))
		return 91;
	setup_plain(SIGALRM, on_alarm_write, SA_RESTART);
	timer_us(30000);
	n = read(pipefd[0], &c, 1);
	printf("SA_RESTART: read returned %zd (%c)\n", n, n == 1 ? c : '-');
	setup_plain(SIGALRM, on_alarm_write, 0);
	timer_us(30000);
	n = read(pipefd[0], &c, 1);
	printf("no SA_RESTART: read returned %zd errno %s\n", n, n < 0 ? errname(errno) : "-");
	n = read(pipefd[0], &c, 1);	/* the byte the handler wrote */
	printf("then: read returned %zd\n", n);

	/* 5. blocked, pending, delivered when unblocked */
	hits = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	kill(getpid(), SIGUSR1);
	{
		sigset_t p;

		sigpending(&p);
		printf("blocked: hits=%d pending=%d\n", (int)hits, sigismember(&p, SIGUSR1));
	}
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	printf("unblocked: hits=%d\n", (int)hits);

	/* 6. faults as signals */
	setup(SIGSEGV, on_jump, 0);
	if (!(sig = sigsetjmp(jb, 1)))
		*bad_ptr = 1;
	printf("segv: sig=%d code=%s addr=%p\n", sig, code_name(SIGSEGV, last.si_code), last.si_addr);
	setup(SIGFPE, on_jump, 0);
	if (!(sig = sigsetjmp(jb, 1)))
		__asm__ volatile("cltd\n\tidivl %1" : "+a"(sig) : "r"(zero) : "rdx");
	printf("fpe: sig=%d code=%s\n", sig, code_name(SIGFPE, last.si_code));
	setup(SIGILL, on_jump, 0);
	if (!(sig = sigsetjmp(jb, 1)))
		__asm__ volatile("ud2");
	printf("ill: sig=%d code=%s\n", sig, code_name(SIGILL, last.si_code));
	hits = 0;
	setup(SIGTRAP, on_info, 0);
	__asm__ volatile("int3");
	printf("trap: hits=%d signo=%d code=%s\n", (int)hits, last.si_signo, code_name(SIGTRAP, last.si_code));

	/* 7. resuming after a fault by editing the saved context */
	hits = 0;
	setup(SIGSEGV, on_skip, 0);
	__asm__ volatile("xorl %%eax, %%eax\n\t.byte 0x8b, 0x00" ::: "rax", "memory");
	printf("resumed after fault: hits=%d addr=%p\n", (int)hits, last.si_addr);

	/* 8. nested handlers */
	norder = 0;
	setup_plain(SIGUSR1, on_usr1_nest, 0);
	setup_plain(SIGUSR2, on_usr2_nest, 0);
	raise(SIGUSR1);
	printf("nested: %d %d %d\n", (int)order[0], (int)order[1], (int)order[2]);

	/* 9. SA_RESETHAND */
	setup(SIGUSR1, on_info, SA_RESETHAND);
	raise(SIGUSR1);
	sigaction(SIGUSR1, NULL, &q);
	printf("resethand: now default=%d\n", q.sa_handler == SIG_DFL);

	/* 10. children */
	pid = fork();
	if (pid == 0)
		_exit(3);
	waitpid(pid, &status, 0);
	printf("child: exited=%d status=%d\n", WIFEXITED(status), WEXITSTATUS(status));
	pid = fork();
	if (pid == 0) {
		for (;;)
			pause();
	}
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	printf("child: signaled=%d sig=%d\n", WIFSIGNALED(status), WTERMSIG(status));
	printf("done\n");
	return 0;
}
