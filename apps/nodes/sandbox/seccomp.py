"""The seccomp filter every sandboxed interpreter runs under, compiled to BPF by libseccomp (pyseccomp).

The filter allows by default and refuses, with EPERM, what a code step never needs and what widens the
kernel's attack surface: new processes (threads stay allowed: V8 needs them), namespaces, mounts,
tracing other processes, kernel modules, BPF, perf, userfaultfd, io_uring, keyrings. Without network
access, sockets other than AF_UNIX are refused with EACCES too (the network namespace is empty already:
this makes the refusal immediate and explicit). bubblewrap loads the program (`--seccomp FD`) just before
it executes the interpreter, after setting no_new_privs.
"""

from __future__ import annotations

import errno
import socket
import tempfile
from functools import lru_cache

CLONE_THREAD = 0x00010000

#: Syscalls refused outright (EPERM). Names unknown to this kernel's libseccomp are skipped.
DENIED = (
    "fork",
    "vfork",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fspick",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "syslog",
    "acct",
    "swapon",
    "swapoff",
    "reboot",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "quotactl",
    "fanotify_init",
    "lookup_dcookie",
    "personality",
)


@lru_cache(maxsize=4)
def filter_program(*, network: bool) -> bytes:
    """The BPF program for this machine's architecture (cached per process: compiling takes ~1 ms)."""
    import pyseccomp as sc

    rules = sc.SyscallFilter(defaction=sc.ALLOW)
    for name in DENIED:
        try:
            rules.add_rule(sc.ERRNO(errno.EPERM), name)
        except (RuntimeError, ValueError, OSError):  # a syscall this architecture does not have
            continue
    # clone without CLONE_THREAD makes a process; clone3 hides its flags in memory, so it answers ENOSYS and
    # the C library falls back to clone (for threads) where the flag can be checked.
    rules.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))
    rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    if not network:
        rules.add_rule(sc.ERRNO(errno.EACCES), "socket", sc.Arg(0, sc.NE, socket.AF_UNIX))
    with tempfile.TemporaryFile() as out:
        rules.export_bpf(out)
        out.seek(0)
        return out.read()


@lru_cache(maxsize=1)
def no_exec_program() -> bytes:
    """A second filter the child loads once its interpreter has started (the first must allow bwrap's own
    execve of it): no program can replace the interpreter afterwards."""
    import pyseccomp as sc

    rules = sc.SyscallFilter(defaction=sc.ALLOW)
    for name in ("execve", "execveat"):
        rules.add_rule(sc.ERRNO(errno.EPERM), name)
    with tempfile.TemporaryFile() as out:
        rules.export_bpf(out)
        out.seek(0)
        return out.read()
