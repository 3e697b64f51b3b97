"""Independent command-line runs of one test, started together: each pays TensorFlow's
start-up (seconds), and on two cores two of them take little longer than one."""

import subprocess


def run_all(commands, timeout, cwds=None, **popen_options):
  """subprocess.run for every command at once -> [CompletedProcess] (text output).

  cwds: each command's working directory (default: popen_options' cwd, else this one's);
  popen_options: as for subprocess.Popen (env, cwd), shared by all commands.
  """
  cwds = cwds or [popen_options.pop("cwd", None)] * len(commands)
  procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, **popen_options) for command, cwd in zip(commands, cwds)]
  try:
    results = []
    for command, proc in zip(commands, procs):
      stdout, stderr = proc.communicate(timeout=timeout)
      results.append(subprocess.CompletedProcess(command, proc.returncode, stdout, stderr))
    return results
  finally:
    for proc in procs:  # a timeout or an error: leave nothing running
      if proc.poll() is None:
        proc.kill()
        proc.wait()
