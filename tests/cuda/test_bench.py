"""benchmarks/bench_cuda.py: without a GPU it stops with the clear message and exit code 2."""


def test_bench_cuda_without_gpu_exits_2_with_the_message(no_gpu):
    proc = no_gpu("benchmarks/bench_cuda.py")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("bench_cuda: no CUDA GPU found; use device='cpu' (")
    assert "Traceback" not in proc.stderr and proc.stdout == ""
