/* fork: fork inside Dune; the child is in Dune too, COW works, parent reaps status 7. */
#include <sys/wait.h>
#include <unistd.h>
#include "../test_util.h"

static volatile int shared_value = 1;

int main(void)
{
	pid_t child;
	int status = 0;

	test_enter("fork");
	fflush(stdout);
	child = fork();
	TEST_ASSERT(child >= 0);
	if (child == 0) {
		shared_value = 2;
		printf("fork child: pid %d, in Dune: %d, cr3 ok: %d\n", getpid(), dune_in_guest(),
		       (read_cr3() & PTE_ADDR) == dune_pgroot_pa());
		fflush(stdout);
		_exit(dune_in_guest() && shared_value == 2 ? 7 : 1);
	}
	printf("fork parent: child %d\n", child);
	TEST_ASSERT(waitpid(child, &status, 0) == child);
	TEST_ASSERT(WIFEXITED(status));
	TEST_ASSERT(WEXITSTATUS(status) == 7);
	TEST_ASSERT(shared_value == 1);
	test_pass();
	return 0;
}
