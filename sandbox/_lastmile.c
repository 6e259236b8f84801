/* sandbox._lastmile: the target's last mile, from clone to execve, in C.  Side: child (the box's init,
 * or `sandbox exec`'s helper, calls spawn(); the process it clones runs the steps below).
 *
 * Why C: a Python fork copies the caller's page tables (tens of MiB of interpreter), then takes a
 * copy-on-write fault for every page the child's Python touches, then throws the copy away at
 * execve: ~3 ms of CPU per run.  Here the child shares the caller's memory (CLONE_VM|CLONE_VFORK,
 * as glibc's posix_spawn and CPython's _posixsubprocess do) and runs only raw system calls on a
 * stack of its own until execve; the caller sleeps meanwhile (CLONE_VFORK) and resumes once the
 * child has exec'd or exited.
 *
 * No policy lives here: the plan (which limits, which descriptors, which filter) is decided in
 * Python and arrives as plain values; this file only carries the steps out, in the order the
 * Python pipeline documents (_child.launch_program, docs/ARCHITECTURE.md section 3).  On a failure
 * the child writes a fixed record (step number, errno) to error_fd, a close-on-exec pipe (EOF
 * without a record = the exec happened), and exits 127; the caller turns the record into the
 * JSON records the supervisor reads (_child.failure_record).  STEPS names the steps by number.
 *
 * Shared memory rules: the child writes nothing but its own stack (and errno, the calling thread's,
 * while that thread sleeps); everything it reads was prepared by the parent before the clone.  No
 * signal handler may run in the child: it would run the parent's code on the parent's memory.  So
 * the parent blocks every signal (glibc's internal ones too: a raw rt_sigprocmask) around the
 * clone; the child sets every disposition to SIG_DFL first and unblocks only just before seccomp
 * and execve, when no handler is left to run.  Man pages: clone(2), vfork(2), execve(2).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#define KEYCTL_JOIN_SESSION_KEYRING 1  /* <linux/keyctl.h> */
#define CHILD_STACK_SIZE (64 * 1024)   /* the child's frames are a few hundred bytes */
#define KERNEL_SIGSET_SIZE 8           /* the kernel's sigset_t: 64 signals */

/* The steps, in the order the child runs them; record numbers are indexes into STEP_NAMES. */
enum step {
    STEP_SIGNALS = 1,      /* every disposition to SIG_DFL: an ignored signal would stay ignored across exec */
    STEP_SESSION,          /* setsid: no controlling terminal, so no TIOCSTI into the caller's */
    STEP_RLIMITS,
    STEP_FDS,              /* nothing of the caller's leaks in */
    STEP_PARENT_DEATH,     /* `sandbox exec`: killing its helper kills the command */
    STEP_CWD,
    STEP_CGROUP,           /* as late as possible: only the program is charged */
    STEP_PRIVILEGES,       /* own session keyring, no_new_privs, empty bounding set */
    STEP_SIGNAL_MASK,      /* unblocked only now: no handler is left */
    STEP_SECCOMP,          /* last: the filter also binds our own next call */
    STEP_EXECVE,
};
static const char *const STEP_NAMES[] = {
    "", "signals", "new session", "rlimits", "file descriptors", "parent death signal",
    "working directory", "cgroup", "privileges", "signal mask", "seccomp", "execve",
};

struct limit {
    int resource;
    struct rlimit value;
};

#define MAX_CGROUP_FDS 8

/* What the child needs, prepared by the parent before the clone. */
struct last_mile {
    const char *path;
    char **argv;
    char **envp;
    const char *cwd;
    struct limit *limits;
    Py_ssize_t n_limits;
    int *keep;              /* sorted, no negatives */
    Py_ssize_t n_keep;
    int cgroup_fds[MAX_CGROUP_FDS];  /* each hierarchy's cgroup.procs: one on cgroup v2, one per v1 hierarchy */
    Py_ssize_t n_cgroup_fds;
    struct sock_fprog filter;
    int last_cap;
    int error_fd;
    int death_signal;
    int lifeline;
};

/* The failure record: two native ints, read by _child.failure_record. */
_Noreturn static void fail(const struct last_mile *m, int step)
{
    int32_t record[2] = {step, errno};
    (void)syscall(SYS_write, m->error_fd, record, sizeof record);
    syscall(SYS_exit_group, 127);
    for (;;) {}
}

static void limit_resources(const struct last_mile *m)
{
    /* Never above the hard limit we already have: raising it would be refused. */
    for (Py_ssize_t i = 0; i < m->n_limits; i++) {
        struct rlimit current, wanted = m->limits[i].value;
        if (syscall(SYS_prlimit64, 0, m->limits[i].resource, NULL, &current) < 0)
            fail(m, STEP_RLIMITS);
        if (wanted.rlim_max > current.rlim_max)
            wanted.rlim_max = current.rlim_max;      /* RLIM_INFINITY is the largest value */
        if (wanted.rlim_cur > wanted.rlim_max)
            wanted.rlim_cur = wanted.rlim_max;
        if (syscall(SYS_prlimit64, 0, m->limits[i].resource, &wanted, NULL) < 0)
            fail(m, STEP_RLIMITS);
    }
}

static void close_fds(const struct last_mile *m)
{
    unsigned int low = 0;
    for (Py_ssize_t i = 0; i < m->n_keep; i++) {
        unsigned int fd = (unsigned int)m->keep[i];
        if (fd > low && syscall(SYS_close_range, low, fd - 1, 0) < 0)
            fail(m, STEP_FDS);
        if (fd + 1 > low)
            low = fd + 1;
    }
    if (syscall(SYS_close_range, low, ~0U, 0) < 0)
        fail(m, STEP_FDS);
}

static int child(void *arg)
{
    const struct last_mile *m = arg;
    /* All zero is SIG_DFL, no flags, an empty mask, whatever the architecture's layout.  The raw call
       also reaches the C library's own signals, which sigaction(3) refuses; errors (SIGKILL, SIGSTOP)
       change nothing. */
    unsigned long dfl[4] = {0};
    uint64_t no_signals = 0;

    for (int sig = 1; sig < _NSIG; sig++)
        (void)syscall(SYS_rt_sigaction, sig, dfl, NULL, KERNEL_SIGSET_SIZE);
    if (syscall(SYS_setsid) < 0)
        fail(m, STEP_SESSION);
    limit_resources(m);
    close_fds(m);
    if (m->death_signal) {
        if (syscall(SYS_prctl, PR_SET_PDEATHSIG, m->death_signal, 0, 0, 0) < 0)
            fail(m, STEP_PARENT_DEATH);
        /* The parent may have died before the signal was armed: EOF on a pipe only it writes. */
        struct pollfd lifeline = {.fd = m->lifeline, .events = POLLIN};
        if (m->lifeline >= 0 && syscall(SYS_poll, &lifeline, 1, 0) != 0)
            syscall(SYS_exit_group, 1);  /* no one to report to */
    }
    if (syscall(SYS_chdir, m->cwd) < 0)
        fail(m, STEP_CWD);
    /* As cgroup.join, in every hierarchy, then a cgroup namespace rooted there: the program sees "/". */
    for (Py_ssize_t i = 0; i < m->n_cgroup_fds; i++) {
        if (syscall(SYS_write, m->cgroup_fds[i], "0", 1) < 0)
            fail(m, STEP_CGROUP);
        (void)syscall(SYS_close, m->cgroup_fds[i]);
    }
    if (m->n_cgroup_fds > 0) {
        if (syscall(SYS_unshare, CLONE_NEWCGROUP) < 0)
            fail(m, STEP_CGROUP);
    }
    if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0
        || syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail(m, STEP_PRIVILEGES);
    for (int cap = 0; cap <= m->last_cap; cap++)  /* needs CAP_SETPCAP, which we still hold */
        if (syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
            fail(m, STEP_PRIVILEGES);
    if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &no_signals, NULL, KERNEL_SIGSET_SIZE) < 0)
        fail(m, STEP_SIGNAL_MASK);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &m->filter) < 0)
        fail(m, STEP_SECCOMP);
    syscall(SYS_execve, m->path, m->argv, m->envp);
    fail(m, STEP_EXECVE);
}

/* --- the parent: Python objects into the plain values above, before the clone ----------------- */

/* A NULL-terminated array of pointers into the list's bytes objects (kept alive by the caller). */
static char **string_array(PyObject *list, const char *what)
{
    if (!PyList_Check(list)) {
        PyErr_Format(PyExc_TypeError, "%s must be a list of bytes", what);
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(list);
    char **array = PyMem_New(char *, n + 1);
    if (array == NULL)
        return (char **)PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        char *s;
        Py_ssize_t size;
        PyObject *item = PyList_GET_ITEM(list, i);
        if (!PyBytes_Check(item) || PyBytes_AsStringAndSize(item, &s, &size) < 0
            || (Py_ssize_t)strlen(s) != size) {
            PyMem_Free(array);
            PyErr_Format(PyExc_ValueError, "%s: bytes without a NUL expected", what);
            return NULL;
        }
        array[i] = s;
    }
    array[n] = NULL;
    return array;
}

static int compare_ints(const void *a, const void *b)
{
    return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

/* A limit as the kernel takes it: -1 (resource.RLIM_INFINITY) is RLIM_INFINITY; anything else outside
   0..2**64-1 is an OverflowError, never the value modulo 2**64 (2**64 would be a limit of 0). */
static int rlimit_value(PyObject *number, rlim_t *value)
{
    int overflow;
    if (PyLong_AsLongLongAndOverflow(number, &overflow) == -1 && !overflow && !PyErr_Occurred()) {
        *value = RLIM_INFINITY;
        return 0;
    }
    if (PyErr_Occurred())
        return -1;
    unsigned long long converted = PyLong_AsUnsignedLongLong(number);
    if (converted == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    *value = (rlim_t)converted;
    return 0;
}

static int read_fds(PyObject *tuple, int *fds, Py_ssize_t *n)
{
    *n = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tuple); i++) {
        int fd = _PyLong_AsInt(PyTuple_GET_ITEM(tuple, i));
        if (fd == -1 && PyErr_Occurred())
            return -1;
        if (fd >= 0)
            fds[(*n)++] = fd;
    }
    return 0;
}

static int read_plain_values(struct last_mile *m, PyObject *rlimits, PyObject *keep_fds, PyObject *cgroup_fds)
{
    if (!PyList_Check(rlimits) || !PyTuple_Check(keep_fds) || !PyTuple_Check(cgroup_fds)) {
        PyErr_SetString(PyExc_TypeError, "rlimits must be a list, keep_fds and cgroup_fds tuples");
        return -1;
    }
    if (PyTuple_GET_SIZE(cgroup_fds) > MAX_CGROUP_FDS) {
        PyErr_SetString(PyExc_ValueError, "cgroup_fds: too many");
        return -1;
    }
    if (read_fds(cgroup_fds, m->cgroup_fds, &m->n_cgroup_fds) < 0)
        return -1;
    m->n_limits = PyList_GET_SIZE(rlimits);
    m->limits = PyMem_New(struct limit, m->n_limits + 1);
    m->keep = PyMem_New(int, PyTuple_GET_SIZE(keep_fds) + 1);
    if (m->limits == NULL || m->keep == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < m->n_limits; i++) {
        PyObject *soft, *hard;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(rlimits, i), "iO!O!;rlimits: (resource, soft, hard)",
                              &m->limits[i].resource, &PyLong_Type, &soft, &PyLong_Type, &hard)
            || rlimit_value(soft, &m->limits[i].value.rlim_cur) < 0
            || rlimit_value(hard, &m->limits[i].value.rlim_max) < 0)
            return -1;
    }
    if (read_fds(keep_fds, m->keep, &m->n_keep) < 0)
        return -1;
    qsort(m->keep, m->n_keep, sizeof *m->keep, compare_ints);
    return 0;
}

static PyObject *spawn(PyObject *Py_UNUSED(self), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"path", "argv", "envp", "cwd", "rlimits", "keep_fds", "cgroup_fds", "bpf",
                               "last_cap", "error_fd", "death_signal", "lifeline", NULL};
    struct last_mile m = {0};
    PyObject *argv, *envp, *rlimits, *keep_fds, *cgroup_fds, *result = NULL;
    Py_buffer bpf = {0};

    m.death_signal = 0;
    m.lifeline = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "yO!O!yO!O!O!y*ii|ii:spawn", keywords, &m.path,
                                     &PyList_Type, &argv, &PyList_Type, &envp, &m.cwd, &PyList_Type, &rlimits,
                                     &PyTuple_Type, &keep_fds, &PyTuple_Type, &cgroup_fds, &bpf, &m.last_cap, &m.error_fd,
                                     &m.death_signal, &m.lifeline))
        return NULL;
    if (bpf.len == 0 || bpf.len % sizeof(struct sock_filter) || bpf.len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
        PyErr_SetString(PyExc_ValueError, "bpf: a classic BPF program expected");
        goto done;
    }
    m.filter.len = (unsigned short)(bpf.len / sizeof(struct sock_filter));
    m.filter.filter = bpf.buf;
    if ((m.argv = string_array(argv, "argv")) == NULL || (m.envp = string_array(envp, "envp")) == NULL
        || read_plain_values(&m, rlimits, keep_fds, cgroup_fds) < 0)
        goto done;

    char *stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    /* Every signal blocked, the C library's own too (pthread_sigmask would leave those): no handler of
       ours may run in the child, which shares our memory.  The GIL stays held: nothing of Python runs
       in this thread until the child has exec'd or exited. */
    uint64_t all_signals = ~(uint64_t)0, old_mask;
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all_signals, &old_mask, KERNEL_SIGSET_SIZE);
    pid_t pid = clone(child, stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, &m);
    int clone_errno = errno;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old_mask, NULL, KERNEL_SIGSET_SIZE);
    munmap(stack, CHILD_STACK_SIZE);
    if (pid < 0) {
        errno = clone_errno;
        PyErr_SetFromErrno(PyExc_OSError);
        goto done;
    }
    result = PyLong_FromLong(pid);
done:
    PyMem_Free(m.argv);
    PyMem_Free(m.envp);
    PyMem_Free(m.limits);
    PyMem_Free(m.keep);
    PyBuffer_Release(&bpf);
    return result;
}

static PyMethodDef methods[] = {
    {"spawn", (PyCFunction)(void (*)(void))spawn, METH_VARARGS | METH_KEYWORDS,
     "spawn(path, argv, envp, cwd, rlimits, keep_fds, cgroup_fds, bpf, last_cap, error_fd, death_signal=0, "
     "lifeline=-1) -> pid\n\nClone a child that confines itself and execs path; returns once it has exec'd "
     "or failed (a failure: a (step, errno) record of two native ints on error_fd, exit status 127)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_lastmile", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__lastmile(void)
{
    PyObject *m = PyModule_Create(&module);
    PyObject *names = PyTuple_New(sizeof STEP_NAMES / sizeof *STEP_NAMES);
    if (m == NULL || names == NULL)
        goto error;
    for (size_t i = 0; i < sizeof STEP_NAMES / sizeof *STEP_NAMES; i++) {
        PyObject *name = PyUnicode_FromString(STEP_NAMES[i]);
        if (name == NULL)
            goto error;
        PyTuple_SET_ITEM(names, i, name);
    }
    if (PyModule_AddObject(m, "STEPS", names) < 0)
        goto error;
    names = NULL;  /* the module holds it now */
    if (PyModule_AddIntConstant(m, "EXECVE", STEP_EXECVE) < 0)
        goto error;
    return m;
error:
    Py_XDECREF(names);
    Py_XDECREF(m);
    return NULL;
}
