"""The distillation loss of ONE decision (rlax style: callers `vmap` it).

    loss = CE(student, target) + alpha * tau^2 * KL(p_teacher^tau || p_student^tau)

over the valid actions only: `p^tau = softmax(logits / tau)` restricted to the mask (masked
entries get the finite `MASKED_LOGIT`, so they carry exactly zero probability in both
softmaxes and add nothing to the KL). The CE term is the student's negative
log-likelihood (at temperature 1) of the `target` action; the trainer uses the teacher's
greedy (argmax) action as the target. The `tau^2` factor keeps the KL gradient on the
scale of the CE gradient when `tau` changes (Hinton et al. 2015). The teacher enters
through `stop_gradient`, so no gradient ever reaches it. With a single valid action both
distributions are one-hot on it and the loss is exactly 0 (no NaN).

For a Q-teacher the teacher distribution is `softmax(q / tau)`; `q_pair_logits` turns Q
values over dispatching rules into pair logits whose `softmax(. / tau)` is the
distribution over pairs that the rules induce.
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from jaxshop.rollout import MASKED_LOGIT


def masked_log_softmax(logits: jax.Array, mask: jax.Array, tau: jax.Array | float = 1.0
                       ) -> jax.Array:
    """`log softmax(logits / tau)` over `mask` (`MASKED_LOGIT`-scale values elsewhere)."""
    return jax.nn.log_softmax(jnp.where(mask, logits / tau, MASKED_LOGIT))


def distill_loss(student_logits: jax.Array, teacher_logits: jax.Array, mask: jax.Array,
                 target: jax.Array, alpha: jax.Array | float, tau: jax.Array | float
                 ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """`(loss, (ce, kl))` of one decision.

    `student_logits`, `teacher_logits`: `(A,)` float; `mask`: `(A,)` bool with at least one
    valid action for a meaningful value (all-masked gives a finite, ignorable number);
    `target`: `()` int, the CE action; `alpha >= 0`, `tau > 0` scalars.
    """
    chex.assert_rank([student_logits, teacher_logits, mask, target], [1, 1, 1, 0])
    chex.assert_equal_shape([student_logits, teacher_logits, mask])
    teacher_logits = jax.lax.stop_gradient(teacher_logits)
    ce = -masked_log_softmax(student_logits, mask)[target]
    log_p_t = masked_log_softmax(teacher_logits, mask, tau)
    log_p_s = masked_log_softmax(student_logits, mask, tau)
    kl = jnp.where(mask, jnp.exp(log_p_t) * (log_p_t - log_p_s), 0.0).sum()
    return ce + alpha * tau**2 * kl, (ce, kl)


def q_pair_logits(q: jax.Array, rule_actions: jax.Array, num_actions: int,
                  tau: jax.Array | float) -> jax.Array:
    """Pair logits `l` with `softmax(l / tau) = sum over rules r choosing the pair of
    softmax(q / tau)_r`: `l_p = tau * logsumexp_{r: a_r = p}(q_r / tau)`, and
    `MASKED_LOGIT` for pairs no rule chooses.

    `q`: `(K,)` Q values of the rules; `rule_actions`: `(K,)` int, the pair each rule picks.
    """
    chex.assert_rank([q, rule_actions], [1, 1])
    hit = jax.nn.one_hot(rule_actions, num_actions, dtype=bool)  # (K, A)
    z = jnp.where(hit, (q / tau)[:, None], MASKED_LOGIT)
    top = z.max(axis=0)
    lse = top + jnp.log(jnp.exp(z - top).sum(axis=0))
    return jnp.where(hit.any(axis=0), tau * lse, MASKED_LOGIT)
