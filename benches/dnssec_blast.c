/*
 * dnssec_blast.c - cheap UDP load generator for benches/dnssec_qps.sh: one
 * query name and type, with or without the DNSSEC OK bit, kept WINDOW deep
 * with sendmmsg/recvmmsg in BATCH-sized groups, to 127.0.0.1 only.
 *
 *   dnssec_blast PORT SECONDS NAME QTYPE DO [BATCH] [WINDOW]
 *
 * prints "qps=<responses per second> bytes=<mean response size> sent=<n> recv=<n>".
 * Build: cc -O2 -o dnssec_blast dnssec_blast.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#define MAXB 256
#define BUFSZ 4096

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Header, question for NAME/QTYPE class IN, then OPT (size 1232, DO if asked). */
static int mkquery(unsigned char *p, unsigned id, const char *name, int qtype, int dnssec_ok) {
    int n = 0;
    p[n++] = id >> 8; p[n++] = id; p[n++] = 0; p[n++] = 0;
    p[n++] = 0; p[n++] = 1; p[n++] = 0; p[n++] = 0; p[n++] = 0; p[n++] = 0; p[n++] = 0; p[n++] = 1;
    const char *s = name;
    while (*s) {
        const char *dot = strchr(s, '.');
        int len = dot ? (int)(dot - s) : (int)strlen(s);
        if (len == 0) break;
        p[n++] = len; memcpy(p + n, s, len); n += len;
        s += len + (dot ? 1 : 0);
    }
    p[n++] = 0;
    p[n++] = qtype >> 8; p[n++] = qtype; p[n++] = 0; p[n++] = 1;
    p[n++] = 0; p[n++] = 0; p[n++] = 41; p[n++] = 1232 >> 8; p[n++] = 1232 & 255;
    p[n++] = 0; p[n++] = 0; p[n++] = dnssec_ok ? 0x80 : 0; p[n++] = 0; p[n++] = 0; p[n++] = 0;
    return n;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s PORT SECONDS NAME QTYPE DO [BATCH] [WINDOW]\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), qtype = atoi(argv[4]), dnssec_ok = atoi(argv[5]);
    double secs = atof(argv[2]);
    int batch = argc > 6 ? atoi(argv[6]) : 32, window = argc > 7 ? atoi(argv[7]) : 256;
    if (batch < 1) batch = 1;
    if (batch > MAXB) batch = MAXB;
    if (window < batch) window = batch;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int big = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
    static unsigned char sb[MAXB][512], rb[MAXB][BUFSZ];
    static struct mmsghdr sm[MAXB], rm[MAXB];
    static struct iovec siov[MAXB], riov[MAXB];
    unsigned long sent = 0, recvd = 0, bytes = 0, id = 0;
    long outstanding = 0;
    double t0 = now(), end = t0 + secs;
    while (now() < end) {
        int k = 0;
        while (outstanding + k < window && k < batch) {
            siov[k].iov_base = sb[k];
            siov[k].iov_len = mkquery(sb[k], (unsigned)id++, argv[3], qtype, dnssec_ok);
            memset(&sm[k].msg_hdr, 0, sizeof sm[k].msg_hdr);
            sm[k].msg_hdr.msg_iov = &siov[k]; sm[k].msg_hdr.msg_iovlen = 1;
            k++;
        }
        if (k) {
            int s = sendmmsg(fd, sm, k, 0);
            if (s > 0) { sent += s; outstanding += s; }
        }
        for (int i = 0; i < batch; i++) {
            riov[i].iov_base = rb[i]; riov[i].iov_len = BUFSZ;
            memset(&rm[i].msg_hdr, 0, sizeof rm[i].msg_hdr);
            rm[i].msg_hdr.msg_iov = &riov[i]; rm[i].msg_hdr.msg_iovlen = 1;
        }
        int r = recvmmsg(fd, rm, batch, MSG_WAITFORONE, NULL);
        if (r > 0) {
            recvd += r; outstanding -= r;
            for (int i = 0; i < r; i++) bytes += rm[i].msg_len;
            if (outstanding < 0) outstanding = 0;
        } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            outstanding = 0;
        }
    }
    double el = now() - t0;
    printf("qps=%.0f bytes=%.0f sent=%lu recv=%lu\n", recvd / el, recvd ? (double)bytes / recvd : 0.0,
           sent, recvd);
    return 0;
}
