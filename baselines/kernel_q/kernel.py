"""The mixed kernel, its explicit feature map and the closed-form ridge fit.

    k(x, z) = lam (x.z + 1)^2 + (1 - lam) exp(-|x - z|^2 / (2 sigma^2)),   0 < lam < 1

is approximated by `phi(x) = [sqrt(lam) poly(x), sqrt(1 - lam) rff(x)]`:

- `poly(x)`: the exact degree-2 polynomial features of `x~ = [x, 1]`, the upper triangle
  of `x~ x~^T` with the off-diagonal entries scaled by `sqrt(2)`, so
  `poly(x) . poly(z) = (x.z + 1)^2` exactly (`(d + 1)(d + 2) / 2` features);
- `rff(x) = sqrt(2 / R) cos(x W + b)`, `W ~ N(0, I / sigma^2)` (`d x R`), `b ~ U[0, 2 pi)`:
  random Fourier features whose inner product is unbiased for the Gaussian kernel, with
  error `O(1 / sqrt(R))`.

`Q(s, a) = w . phi(x(s, a))`; `w` is fitted by ridge regression in closed form,
`w = (Phi^T Phi + alpha I)^{-1} Phi^T y` (a Cholesky factorization, in jit).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_factor, cho_solve


def num_poly_features(dim: int) -> int:
    return (dim + 1) * (dim + 2) // 2


def poly_features(x: jax.Array) -> jax.Array:
    """`(..., (d+1)(d+2)/2)` exact degree-2 features of `(..., d)` inputs."""
    ones = jnp.ones(x.shape[:-1] + (1,), x.dtype)
    xt = jnp.concatenate([x, ones], axis=-1)
    i, j = np.triu_indices(xt.shape[-1])
    scale = np.where(i == j, 1.0, math.sqrt(2.0)).astype(np.float32)
    return xt[..., i] * xt[..., j] * scale


def init_rff(key: jax.Array, dim: int, num: int, sigma: float) -> dict:
    """Random Fourier feature parameters `{"omega": (d, R), "bias": (R,)}`."""
    k1, k2 = jax.random.split(key)
    omega = jax.random.normal(k1, (dim, num), jnp.float32) / sigma
    bias = jax.random.uniform(k2, (num,), jnp.float32, 0.0, 2.0 * math.pi)
    return {"omega": omega, "bias": bias}


def rff_features(x: jax.Array, rff: dict) -> jax.Array:
    num = rff["bias"].shape[-1]
    return math.sqrt(2.0 / num) * jnp.cos(x @ rff["omega"] + rff["bias"])


def feature_map(x: jax.Array, rff: dict, lam: float) -> jax.Array:
    """`phi(x)`: `(..., (d+1)(d+2)/2 + R)`."""
    return jnp.concatenate(
        [math.sqrt(lam) * poly_features(x), math.sqrt(1.0 - lam) * rff_features(x, rff)], -1
    )


def exact_kernel(x: jax.Array, z: jax.Array, lam: float, sigma: float) -> jax.Array:
    """Gram matrix `(len(x), len(z))` of the mixed kernel."""
    sq = jnp.sum(x * x, -1)[:, None] + jnp.sum(z * z, -1)[None, :] - 2.0 * x @ z.T
    gauss = jnp.exp(-jnp.maximum(sq, 0.0) / (2.0 * sigma**2))
    return lam * (x @ z.T + 1.0) ** 2 + (1.0 - lam) * gauss


def ridge_factor(phi: jax.Array, alpha: float):
    """Cholesky factor of `Phi^T Phi + alpha I` (reused by every value-iteration refit)."""
    gram = phi.T @ phi
    return cho_factor(gram + alpha * jnp.eye(gram.shape[0], dtype=gram.dtype))


def ridge_solve(factor, phi: jax.Array, y: jax.Array) -> jax.Array:
    return cho_solve(factor, phi.T @ y)


def ridge_fit(phi: jax.Array, y: jax.Array, alpha: float) -> jax.Array:
    """Closed-form ridge regression weights `(Phi^T Phi + alpha I)^{-1} Phi^T y`."""
    return ridge_solve(ridge_factor(phi, alpha), phi, y)
