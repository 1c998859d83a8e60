#!/usr/bin/python3
"""A stand-in for the `docker` CLI, for the docker runner's tests.

It records every call (argv and DOCKER_HOST) in <state>/calls.jsonl and answers the commands the
runner uses the way docker does (output, stderr wording, exit codes): run -d, cp (both ways,
`dir/.` semantics), exec (-w, -e; exit code of the command), kill, rm -f. A container is a folder
<state>/containers/<name>/root; the images it knows are listed in <state>/images.json
(image -> a git repository cloned to /testbed, or null for an empty image). Container paths
(/testbed, /tmp/batchline, /work) are mapped to that folder: in arguments, in -w and -e values,
and in text files copied in; copied-out files are mapped back. <state> is the folder holding
this script's `state/` (the script is copied per test).
"""
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys

STATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "state")
PREFIXES = ["/tmp/batchline", "/testbed", "/work"]


def record(argv):
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, "calls.jsonl"), "a") as f:
        f.write(json.dumps({"argv": argv, "DOCKER_HOST": os.environ.get("DOCKER_HOST")}) + "\n")


def fail(msg, code=1):
    sys.stderr.write(msg + "\n")
    sys.exit(code)


def container_root(name):
    root = os.path.join(STATE, "containers", name, "root")
    if not os.path.isdir(root):
        fail(f"Error response from daemon: No such container: {name}")
    return root


MAPPED = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(p) for p in PREFIXES) + r")(?![\w.-])")


def map_in(root, text):
    return MAPPED.sub(lambda m: root + m.group(1), text)


def map_out(root, text):
    return text.replace(root, "")


def cmd_run(args):
    name = None
    image = None
    rest = []
    network = "bridge"
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--name", "--label", "--network", "-w", "-e"):
            if a == "--name":
                name = args[i + 1]
            if a == "--network":
                network = args[i + 1]
            i += 2
            continue
        if a == "-d":
            i += 1
            continue
        image = a
        rest = args[i + 1 :]
        break
    images = json.load(open(os.path.join(STATE, "images.json")))
    if image not in images:
        fail(
            f"Unable to find image '{image}' locally\ndocker: Error response from daemon: pull access denied for {image.split(':')[0]}, repository does not exist or may require 'docker login'.",
            125,
        )
    cdir = os.path.join(STATE, "containers", name)
    if os.path.exists(cdir):
        fail(f'docker: Error response from daemon: Conflict. The container name "/{name}" is already in use.', 125)
    root = os.path.join(cdir, "root")
    os.makedirs(os.path.join(root, "tmp"))
    os.makedirs(os.path.join(root, "work"))
    open(os.path.join(cdir, "network"), "w").write(network)
    if images[image]:
        subprocess.run(["git", "clone", "-q", images[image], os.path.join(root, "testbed")], check=True)
    print(secrets.token_hex(32))


def split_ref(ref):
    if ":" in ref and not ref.startswith("/") and not ref.startswith("."):
        name, path = ref.split(":", 1)
        return name, path
    return None, ref


def copy_tree(src, dst, mapper):
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
        for entry in os.listdir(src):
            copy_tree(os.path.join(src, entry), os.path.join(dst, entry), mapper)
        return
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    data = open(src, "rb").read()
    try:
        data = mapper(data.decode("utf-8")).encode("utf-8")
    except UnicodeDecodeError:
        pass
    open(dst, "wb").write(data)


def cmd_cp(args):
    src, dst = args[-2], args[-1]
    sname, spath = split_ref(src)
    dname, dpath = split_ref(dst)
    if dname is not None:
        root = container_root(dname)
        contents = spath.endswith("/.")
        target = root + dpath
        if contents:
            copy_tree(spath[:-2], target, lambda t: map_in(root, t))
        else:
            copy_tree(spath, target if not os.path.isdir(target) else os.path.join(target, os.path.basename(spath)), lambda t: map_in(root, t))
    else:
        root = container_root(sname)
        source = root + spath
        if not os.path.exists(source):
            fail(f"Error response from daemon: Could not find the file {spath} in container {sname}")
        copy_tree(source, dpath, lambda t: map_out(root, t))


def cmd_exec(args):
    workdir = "/"
    env = dict(os.environ)
    i = 0
    while args[i].startswith("-"):
        if args[i] == "-w":
            workdir = args[i + 1]
        elif args[i] == "-e":
            k, v = args[i + 1].split("=", 1)
            env[k] = v
        i += 2
    name = args[i]
    cmd = args[i + 1 :]
    root = container_root(name)
    env = {k: map_in(root, v) if k.startswith("BATCHLINE") else v for k, v in env.items()}
    shim = os.path.join(STATE, "shim")
    env["PATH"] = shim + ":" + env.get("PATH", "/usr/bin:/bin")
    cwd = root + workdir if workdir != "/" else root
    if not os.path.isdir(cwd):
        fail(f"OCI runtime exec failed: exec failed: unable to start container process: chdir to cwd (\"{workdir}\") set in config.json failed: no such file or directory", 126)
    # --network none: the container has no network; model it with a network namespace
    prefix = []
    if open(os.path.join(STATE, "containers", name, "network")).read() == "none":
        prefix = ["unshare", "-n"] if subprocess.run(["unshare", "-n", "true"]).returncode == 0 else ["unshare", "-rn"]
    proc = subprocess.Popen(prefix + [map_in(root, a) for a in cmd], cwd=cwd, env=env, start_new_session=True)
    pids = os.path.join(STATE, "containers", name, "pids")
    os.makedirs(pids, exist_ok=True)
    mark = os.path.join(pids, str(proc.pid))
    open(mark, "w").close()
    code = proc.wait()
    os.remove(mark)
    sys.exit(code if code >= 0 else 128 - code)


def kill_all(name):
    pids = os.path.join(STATE, "containers", name, "pids")
    for p in os.listdir(pids) if os.path.isdir(pids) else []:
        try:
            os.killpg(int(p), signal.SIGKILL)
        except ProcessLookupError:
            pass


def cmd_kill(args):
    name = args[-1]
    container_root(name)
    kill_all(name)
    print(name)


def cmd_rm(args):
    name = args[-1]
    cdir = os.path.join(STATE, "containers", name)
    if not os.path.isdir(cdir):
        fail(f"Error response from daemon: No such container: {name}")
    kill_all(name)
    shutil.rmtree(cdir, ignore_errors=True)
    print(name)


def main():
    argv = sys.argv[1:]
    record(argv)
    if not argv:
        fail("Usage:  docker [OPTIONS] COMMAND")
    verb, args = argv[0], argv[1:]
    handlers = {"run": cmd_run, "cp": cmd_cp, "exec": cmd_exec, "kill": cmd_kill, "rm": cmd_rm}
    if verb not in handlers:
        fail(f"docker: '{verb}' is not a docker command.\nSee 'docker --help'")
    handlers[verb](args)


if __name__ == "__main__":
    main()
