/*
 * Prints, as JSON, the C library's layouts and constants that lib/platform/arch.ts pins per
 * architecture: compiled with each target's compiler (cc, aarch64-linux-gnu-gcc) by
 * test/unit/arch.test.ts and compared with the table there. Field names match lib/platform/arch.ts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define N(name, value) printf("%s\"%s\": %ld", first ? "" : ", ", name, (long)(value)), first = 0
#define GROUP(name) printf("%s\"%s\": {", sep, name), first = 1, sep = ", "
#define END() printf("}")

int main(void) {
    int first;
    const char *sep = "";
    printf("{");
    GROUP("stat");
    N("bytes", sizeof(struct stat));
    N("dev", offsetof(struct stat, st_dev));
    N("ino", offsetof(struct stat, st_ino));
    N("mode", offsetof(struct stat, st_mode));
    N("size", offsetof(struct stat, st_size));
    N("mtimeSec", offsetof(struct stat, st_mtim.tv_sec));
    N("mtimeNsec", offsetof(struct stat, st_mtim.tv_nsec));
    N("devBytes", sizeof(((struct stat *)0)->st_dev));
    N("inoBytes", sizeof(((struct stat *)0)->st_ino));
    N("modeBytes", sizeof(((struct stat *)0)->st_mode));
    N("sizeBytes", sizeof(((struct stat *)0)->st_size));
    END();
    GROUP("statfs");
    N("bytes", sizeof(struct statfs));
    N("type", offsetof(struct statfs, f_type));
    N("typeBytes", sizeof(((struct statfs *)0)->f_type));
    END();
    GROUP("ifreq");
    N("bytes", sizeof(struct ifreq));
    N("name", offsetof(struct ifreq, ifr_name));
    N("nameBytes", IFNAMSIZ);
    N("ifindex", offsetof(struct ifreq, ifr_ifindex));
    END();
    GROUP("open");
    N("O_RDONLY", O_RDONLY);
    N("O_WRONLY", O_WRONLY);
    N("O_RDWR", O_RDWR);
    N("O_CREAT", O_CREAT);
    N("O_EXCL", O_EXCL);
    N("O_TRUNC", O_TRUNC);
    N("O_DIRECTORY", O_DIRECTORY);
    N("O_NOFOLLOW", O_NOFOLLOW);
    N("O_CLOEXEC", O_CLOEXEC);
    END();
    GROUP("socket");
    N("AF_UNIX", AF_UNIX);
    N("AF_NETLINK", AF_NETLINK);
    N("SOCK_STREAM", SOCK_STREAM);
    N("SOCK_RAW", SOCK_RAW);
    N("SOCK_CLOEXEC", SOCK_CLOEXEC);
    N("MSG_DONTWAIT", MSG_DONTWAIT);
    N("MSG_NOSIGNAL", MSG_NOSIGNAL);
    N("SOL_NETLINK", SOL_NETLINK);
    N("NETLINK_ROUTE", NETLINK_ROUTE);
    N("NETLINK_EXT_ACK", NETLINK_EXT_ACK);
    N("NETLINK_GET_STRICT_CHK", NETLINK_GET_STRICT_CHK);
    N("NETLINK_NETFILTER", NETLINK_NETFILTER);
    N("NETLINK_CAP_ACK", NETLINK_CAP_ACK);
    N("SOL_SOCKET", SOL_SOCKET);
    N("SO_RCVTIMEO", SO_RCVTIMEO);
    END();
    GROUP("timeval");
    N("bytes", sizeof(struct timeval));
    N("sec", offsetof(struct timeval, tv_sec));
    N("usec", offsetof(struct timeval, tv_usec));
    N("secBytes", sizeof(((struct timeval *)0)->tv_sec));
    N("usecBytes", sizeof(((struct timeval *)0)->tv_usec));
    END();
    GROUP("ioctl");
    N("SIOCGIFNAME", SIOCGIFNAME);
    N("SIOCGIFINDEX", SIOCGIFINDEX);
    END();
    GROUP("misc");
    N("CLONE_NEWNET", CLONE_NEWNET);
    N("LOCK_EX", LOCK_EX);
    N("LOCK_NB", LOCK_NB);
    END();
    GROUP("netlink");
    N("nlmsghdr", sizeof(struct nlmsghdr));
    N("nlmsgerr", sizeof(struct nlmsgerr));
    N("ifinfomsg", sizeof(struct ifinfomsg));
    N("ifaddrmsg", sizeof(struct ifaddrmsg));
    N("rtmsg", sizeof(struct rtmsg));
    N("rtattr", sizeof(struct rtattr));
    N("sockaddr_nl", sizeof(struct sockaddr_nl));
    END();
    GROUP("errno");
    int codes[] = {EPERM, ENOENT, ESRCH, EINTR, EIO, EBADF, EAGAIN, ENOMEM, EACCES, EBUSY, EEXIST, EXDEV, ENODEV, ENOTDIR,
                   EISDIR, EINVAL, EMFILE, EFBIG, ENOSPC, EROFS, EPIPE, ERANGE, ENAMETOOLONG, ENOTEMPTY, ELOOP,
                   EPROTONOSUPPORT, EOPNOTSUPP, EADDRNOTAVAIL, ENETUNREACH, ENOBUFS, EDQUOT};
    const char *names[] = {"EPERM", "ENOENT", "ESRCH", "EINTR", "EIO", "EBADF", "EAGAIN", "ENOMEM", "EACCES", "EBUSY", "EEXIST",
                           "EXDEV", "ENODEV", "ENOTDIR", "EISDIR", "EINVAL", "EMFILE", "EFBIG", "ENOSPC", "EROFS", "EPIPE",
                           "ERANGE", "ENAMETOOLONG", "ENOTEMPTY", "ELOOP", "EPROTONOSUPPORT", "EOPNOTSUPP", "EADDRNOTAVAIL",
                           "ENETUNREACH", "ENOBUFS", "EDQUOT"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) N(names[i], codes[i]);
    END();
    printf("}\n");
    return 0;
}
