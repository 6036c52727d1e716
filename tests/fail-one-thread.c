/*
 * fail-one-thread.c: an LD_PRELOAD library for tests/test_workers.sh. The FAIL_THREAD-th call of
 * pthread_create() in the process fails with EAGAIN (what a full pids limit gives); every other
 * call goes through. Build: cc -shared -fPIC -o fail-one-thread.so fail-one-thread.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

typedef int create_function(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg)
{
    static int calls;
    const char *fail = getenv("FAIL_THREAD");
    create_function *real = (create_function *)dlsym(RTLD_NEXT, "pthread_create");

    if (real == NULL)
        return EAGAIN;
    if (fail != NULL && __atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST) == atoi(fail))
        return EAGAIN;
    return real(thread, attr, start, arg);
}
