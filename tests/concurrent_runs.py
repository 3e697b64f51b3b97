"""Independent command-line runs of one test, started together: each pays TensorFlow's
start-up (seconds), and on two cores two of them take little longer than one."""

import contextlib
import subprocess


def run_all(commands, timeout, cwds=None, **popen_options):
  """subprocess.run for every command at once -> [CompletedProcess] (text output).

  cwds: each command's working directory (default: popen_options' cwd, else this one's);
  popen_options: as for subprocess.Popen (env, cwd), shared by all commands.
  """
  cwds = cwds or [popen_options.pop("cwd", None)] * len(commands)
  # A timeout or an error in one collection kills the runs not yet collected (`running`).
  with contextlib.ExitStack() as stack:
    runs = [stack.enter_context(running(command, timeout, cwd=cwd, **popen_options))
            for command, cwd in zip(commands, cwds)]
  return [run.result for run in runs]


class running:  # pylint: disable=invalid-name
  """A command that runs while the `with` block does the test's own work in-process:

    with running(command, timeout=300, env=env) as run:
      ...                       # references computed here, beside the command
    run.result                  # its CompletedProcess (text output), collected on exit
  """

  def __init__(self, command, timeout, **popen_options):
    self.command, self.timeout, self.options = command, timeout, popen_options
    self.result = None

  def __enter__(self):
    self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, **self.options)
    return self

  def __exit__(self, exc_type, exc, tb):
    try:
      if exc_type is None:
        stdout, stderr = self.proc.communicate(timeout=self.timeout)
        self.result = subprocess.CompletedProcess(self.command, self.proc.returncode, stdout,
                                                  stderr)
    finally:
      if self.proc.poll() is None:  # a failed block or a timeout: leave nothing running
        self.proc.kill()
        self.proc.wait()
    return False
