import numpy as np

def build_alias(
    weights: np.ndarray, table: np.ndarray, work: np.ndarray, total: float, /
) -> None: ...
def draw_alias(
    table: np.ndarray, n: int, out: np.ndarray, s0: int, s1: int, s2: int, s3: int, /
) -> None: ...
