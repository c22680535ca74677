/* bochs-loopback.so: LD_PRELOAD'ed into Bochs so its listening sockets bind to the loopback
 * interface instead of every interface.
 *
 * Bochs 2.7's VNC server (the rfb display library, the only headless one Debian builds) binds
 * 0.0.0.0:5900-5949 and offers no authentication and no bind-address option: anyone who can reach
 * the host could watch the guest console and type into it (the header bar's buttons can power it
 * off or save it). dunelab itself only connects over 127.0.0.1 (rfb.py), and slirp's port
 * forwards are already bound to 127.0.0.1 by their hostfwd rules. So bind() of a wildcard address
 * is rewritten to the loopback address of the same family; every other bind() is untouched.
 * Built on first use by dunelab (backends/loopback.py) with the host's gcc.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	static bind_fn real_bind;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;

	if (!real_bind)
		real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
	if (addr && addr->sa_family == AF_INET && len >= sizeof(in4)) {
		memcpy(&in4, addr, sizeof(in4));
		if (in4.sin_addr.s_addr == htonl(INADDR_ANY)) {
			in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			return real_bind(fd, (const struct sockaddr *)&in4, sizeof(in4));
		}
	} else if (addr && addr->sa_family == AF_INET6 && len >= sizeof(in6)) {
		memcpy(&in6, addr, sizeof(in6));
		if (!memcmp(&in6.sin6_addr, &in6addr_any, sizeof(in6.sin6_addr))) {
			in6.sin6_addr = in6addr_loopback;
			return real_bind(fd, (const struct sockaddr *)&in6, sizeof(in6));
		}
	}
	return real_bind(fd, addr, len);
}
