"""Chapter 09 exercises: reinforcement learning (returns, exploration, Q-learning, REINFORCE, a CartPole policy) and
graph neural networks (normalised adjacency, a graph convolution, a GCN on unlabelled nodes)."""

from __future__ import annotations

import numpy as np

from dlcourse.checks import diagnostics
from dlcourse.checks.framework import (Case, DesignExercise, FunctionExercise, LazyCases, Mistake,
                                       ScoredFunctionExercise, gather_evidence, low_score_message)

# ------------------------------------------------------------------ references


def reference_discounted_returns(rewards, dones, gamma):
    """G_t = r_t + gamma G_{t+1} (1 - done_t), backwards in time along axis 0 (one column per environment)."""
    rewards, dones = np.asarray(rewards, dtype=float), np.asarray(dones, dtype=float)
    returns = np.zeros_like(rewards)
    running = np.zeros_like(rewards[0])
    for step in reversed(range(len(rewards))):
        running = rewards[step] + gamma * running * (1.0 - dones[step])
        returns[step] = running
    return returns


def reference_epsilon_greedy_probabilities(q_values, epsilon):
    """epsilon / n for every action, plus 1 - epsilon for the greedy one (the first maximum), along the last axis."""
    q_values = np.asarray(q_values, dtype=float)
    num_actions = q_values.shape[-1]
    probabilities = np.full(q_values.shape, epsilon / num_actions)
    greedy = np.argmax(q_values, axis=-1)
    np.put_along_axis(probabilities, np.expand_dims(greedy, -1),
                      np.take_along_axis(probabilities, np.expand_dims(greedy, -1), -1) + 1.0 - epsilon, axis=-1)
    return probabilities


def reference_q_learning_update(q_table, state, action, reward, next_state, done, learning_rate, gamma):
    """A new table: Q[s, a] moved by learning_rate towards r + gamma (1 - done) max_a' Q[s', a']."""
    new_table = np.array(q_table, dtype=float)
    target = reward + gamma * (1.0 - float(done)) * new_table[next_state].max()
    new_table[state, action] += learning_rate * (target - new_table[state, action])
    return new_table


def reference_reinforce_loss(logits, actions, returns):
    """-mean_i log softmax(logits_i)[actions_i] * returns_i, the log-softmax shifted by each row's maximum."""
    logits = np.asarray(logits, dtype=float)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    taken = log_probabilities[np.arange(len(logits)), np.asarray(actions)]
    return float(-np.mean(taken * np.asarray(returns, dtype=float)))


def reference_normalized_adjacency(adjacency):
    """D^-1/2 (A + I) D^-1/2, where D holds the row sums (degrees) of A + I."""
    with_self_loops = np.asarray(adjacency, dtype=float) + np.eye(len(adjacency))
    inverse_root = 1.0 / np.sqrt(with_self_loops.sum(axis=1))
    return inverse_root[:, None] * with_self_loops * inverse_root[None, :]


def reference_graph_convolution(normalized_adjacency, features, kernel, bias):
    """ReLU(Â X W + b): each node averages its neighbours' transformed features."""
    propagated = np.asarray(normalized_adjacency, dtype=float) @ np.asarray(features, dtype=float)
    return np.maximum(propagated @ np.asarray(kernel, dtype=float) + np.asarray(bias, dtype=float), 0.0)


# ------------------------------------------------------------------ exercise: discounted_returns


def _returns_with(rewards, dones, gamma, use_dones=True, drop_last_reward=False, discount_first=False, axis=0):
    """The backward recursion with one of the mistakes of the exercise switched on."""
    rewards, dones = np.asarray(rewards, dtype=float), np.asarray(dones, dtype=float)
    rewards, dones = np.moveaxis(rewards, axis, 0), np.moveaxis(dones, axis, 0)
    returns = np.zeros_like(rewards)
    running = np.zeros_like(rewards[0])
    for step in reversed(range(len(rewards))):
        keep = 1.0 - dones[step] if use_dones else 1.0
        if drop_last_reward:
            running = (rewards[step] + gamma * running) * keep
        elif discount_first:
            running = gamma * (rewards[step] + running * keep)
        else:
            running = rewards[step] + gamma * running * keep
        returns[step] = running
    return np.moveaxis(returns, 0, axis)


def _returns_forwards(rewards, dones, gamma):
    """Discounted sums of the rewards *so far* (the recursion run forwards in time)."""
    rewards, dones = np.asarray(rewards, dtype=float), np.asarray(dones, dtype=float)
    returns = np.zeros_like(rewards)
    running = np.zeros_like(rewards[0])
    for step in range(len(rewards)):
        running = rewards[step] + gamma * running
        returns[step] = running
        running = running * (1.0 - dones[step])
    return returns


_TWO_ENVIRONMENTS_REWARDS = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 0.0, 1.0],
                                      [1.0, 0.0, 0.0]])
_TWO_ENVIRONMENTS_DONES = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1], [1, 0, 0]])

discounted_returns = FunctionExercise(
    exercise_id="ch09.discounted_returns",
    title="Discounted returns, with episode ends",
    hints=[
        "Work backwards in time: the return of the last step is its reward, and each earlier return is its reward "
        "plus gamma times the *next* return.",
        "Where `dones[t]` is 1 the episode ends after step t, so nothing after it may flow back: "
        "`running = rewards[t] + gamma * running * (1 - dones[t])`, starting from `running = 0`.",
        "`for t in reversed(range(len(rewards)))`, writing `returns[t] = running` after each update; with "
        "`running = np.zeros_like(rewards[0])` the same loop handles shape (T,) and (T, num_envs).",
    ],
    reference=reference_discounted_returns,
    cases=[
        Case("one episode of 4 rewards of 1, gamma 0.9", ([1.0, 1.0, 1.0, 1.0], [0, 0, 0, 1], 0.9)),
        Case("two episodes back to back (the first ends at step 2), gamma 0.5",
             (np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([0, 0, 1, 0, 1]), 0.5)),
        Case("a rollout cut off before the episode ends (no done at all), gamma 0.99",
             (np.array([0.0, 0.0, 1.0, 0.0, 2.0]), np.zeros(5), 0.99)),
        Case("gamma 0: each return is its own reward", (np.array([3.0, -1.0, 2.0]), np.array([0, 1, 0]), 0.0)),
        Case("gamma 1 and integer rewards: plain sums to the episode's end", ([1, 0, 2, 5], [0, 0, 1, 1], 1.0)),
        Case("a single step that ends its episode", (np.array([2.5]), np.array([1]), 0.9)),
        Case("3 environments side by side, shape (5, 3), episodes ending at different steps, gamma 0.9",
             (_TWO_ENVIRONMENTS_REWARDS, _TWO_ENVIRONMENTS_DONES, 0.9)),
    ],
    mistakes=[
        Mistake("the episode ends are ignored: rewards of the *next* episode flow back into this one. Multiply the "
                "next return by `(1 - dones[t])`.",
                lambda rewards, dones, gamma: _returns_with(rewards, dones, gamma, use_dones=False)),
        Mistake("the last reward of each episode is dropped: `(rewards[t] + gamma * running) * (1 - dones[t])` "
                "zeroes the final step's own reward too. Cut only what comes *after* it: "
                "`rewards[t] + gamma * running * (1 - dones[t])`.",
                lambda rewards, dones, gamma: _returns_with(rewards, dones, gamma, drop_last_reward=True)),
        Mistake("the step's own reward is discounted too: G_t = r_t + gamma G_{t+1}, so r_t counts in full and only "
                "the later rewards are multiplied by gamma.",
                lambda rewards, dones, gamma: _returns_with(rewards, dones, gamma, discount_first=True)),
        Mistake("the recursion runs forwards in time, summing the rewards *so far*: a return looks ahead, so loop "
                "backwards, `for t in reversed(range(len(rewards)))`.",
                _returns_forwards),
        Mistake("time runs along the last axis in your loop: rewards and dones have time on axis 0 (one column per "
                "environment), so loop over `range(len(rewards))` and update whole rows `rewards[t]`.",
                lambda rewards, dones, gamma: _returns_with(rewards, dones, gamma, axis=-1)),
    ],
)

# ------------------------------------------------------------------ exercise: epsilon_greedy_probabilities


def _greedy_share_without_exploring(q_values, epsilon):
    """1 - epsilon for the greedy action and epsilon / n for each other: exploration never picks the greedy one."""
    q_values = np.asarray(q_values, dtype=float)
    probabilities = np.full(q_values.shape, epsilon / q_values.shape[-1])
    np.put_along_axis(probabilities, np.expand_dims(np.argmax(q_values, axis=-1), -1), 1.0 - epsilon, axis=-1)
    return probabilities


def _random_among_the_others(q_values, epsilon):
    """1 - epsilon for the greedy action, epsilon shared by the n - 1 others."""
    q_values = np.asarray(q_values, dtype=float)
    probabilities = np.full(q_values.shape, epsilon / (q_values.shape[-1] - 1))
    np.put_along_axis(probabilities, np.expand_dims(np.argmax(q_values, axis=-1), -1), 1.0 - epsilon, axis=-1)
    return probabilities


def _ties_shared(q_values, epsilon):
    """The greedy share split evenly between every action tied at the maximum."""
    q_values = np.asarray(q_values, dtype=float)
    best = q_values == q_values.max(axis=-1, keepdims=True)
    return epsilon / q_values.shape[-1] + (1.0 - epsilon) * best / best.sum(axis=-1, keepdims=True)


def _greedy_over_the_states(q_values, epsilon):
    """The greedy bonus put at each *column's* best state (argmax along axis 0) for a table of several states."""
    q_values = np.asarray(q_values, dtype=float)
    if q_values.ndim == 1:
        return reference_epsilon_greedy_probabilities(q_values, epsilon)
    probabilities = np.full(q_values.shape, epsilon / q_values.shape[-1])
    probabilities[np.argmax(q_values, axis=0), np.arange(q_values.shape[1])] += 1.0 - epsilon
    return probabilities


epsilon_greedy_probabilities = FunctionExercise(
    exercise_id="ch09.epsilon_greedy_probabilities",
    title="The action probabilities of an epsilon-greedy policy",
    hints=[
        "With probability epsilon the agent draws one of the n actions uniformly (the greedy one included); "
        "otherwise it takes the greedy action. Add the two ways of picking each action.",
        "Every action gets epsilon / n; the greedy action `np.argmax(q_values, axis=-1)` (the first maximum) gets "
        "1 - epsilon more.",
        "`probabilities = np.full(q.shape, epsilon / q.shape[-1])`, then add `1 - epsilon` at the argmax of each "
        "row, e.g. with `np.put_along_axis` or with a one-hot `np.eye(q.shape[-1])[np.argmax(q, axis=-1)]`.",
    ],
    reference=reference_epsilon_greedy_probabilities,
    cases=[
        Case("4 actions, epsilon 0.2", (np.array([0.1, 0.5, -0.2, 0.3]), 0.2)),
        Case("3 states x 3 actions, epsilon 0.3", (np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0], [2.0, 2.5, 1.0]]), 0.3)),
        Case("epsilon 0: always greedy", (np.array([0.0, -1.0, 4.0]), 0.0)),
        Case("epsilon 1: uniformly random", (np.array([[1.0, 0.0], [0.0, 1.0]]), 1.0)),
        Case("a tie at the maximum (np.argmax takes the first), 5 actions, epsilon 0.1",
             (np.array([0.2, 0.7, 0.7, -0.3, 0.1]), 0.1)),
        Case("2 states x 4 actions given as lists, epsilon 0.25", ([[0, 3, 1, 2], [-5, -2, -3, -4]], 0.25)),
    ],
    mistakes=[
        Mistake("the greedy action gets only 1 - epsilon: exploring draws from *all* n actions, so it also picks the "
                "greedy one with probability epsilon / n. Your probabilities sum to 1 - epsilon / n, not 1.",
                _greedy_share_without_exploring),
        Mistake("exploring picks among the n - 1 *other* actions only: the exercise's exploration draws uniformly "
                "from all n actions, the greedy one included (epsilon / n each).",
                _random_among_the_others),
        Mistake("the probabilities favour the action with the *lowest* value (argmin): the greedy action is the one "
                "with the highest Q value, `np.argmax`.",
                lambda q, epsilon: reference_epsilon_greedy_probabilities(-np.asarray(q, dtype=float), epsilon)),
        Mistake("epsilon and 1 - epsilon are swapped: the agent explores with probability epsilon, so the greedy "
                "action gets 1 - epsilon + epsilon / n.",
                lambda q, epsilon: reference_epsilon_greedy_probabilities(q, 1.0 - epsilon)),
        Mistake("tied actions share the greedy probability: the exercise breaks ties as `np.argmax` does, giving "
                "1 - epsilon to the *first* maximum only.",
                _ties_shared),
        Mistake("the greedy action is taken along the states (axis 0): each *row* holds one state's action values, so "
                "take `np.argmax(q_values, axis=-1)`.",
                _greedy_over_the_states),
    ],
    reference_along_axis=reference_epsilon_greedy_probabilities,
)

# ------------------------------------------------------------------ exercise: q_learning_update

_Q_3x2 = np.array([[0.0, 1.0], [0.5, -0.5], [2.0, 0.0]])
_q_rng = np.random.default_rng(909)
_Q_5x4 = np.round(_q_rng.normal(size=(5, 4)), 2)


def _update_towards(q_table, state, action, target, learning_rate):
    new_table = np.array(q_table, dtype=float)
    new_table[state, action] += learning_rate * (target - new_table[state, action])
    return new_table


q_learning_update = FunctionExercise(
    exercise_id="ch09.q_learning_update",
    title="One Q-learning update",
    hints=[
        "The target is what the step taught: the reward, plus gamma times the value of the best action in the next "
        "state, `np.max(q_table[next_state])`; after a final step (done) there is no next state to add.",
        "Move Q[state, action] a fraction `learning_rate` of the way to the target: "
        "`Q[s, a] += learning_rate * (target - Q[s, a])`.",
        "Copy first, `new_table = np.array(q_table, dtype=float)`, so the given table is left unchanged; "
        "`target = reward + gamma * (1 - done) * new_table[next_state].max()`.",
    ],
    reference=reference_q_learning_update,
    cases=[
        Case("3 states x 2 actions, a step from state 0 to state 2", (_Q_3x2, 0, 1, 1.0, 2, False, 0.5, 0.9)),
        Case("a final step (done=True): nothing follows it", (_Q_3x2, 1, 0, 10.0, 2, True, 0.5, 0.9)),
        Case("a negative reward, staying in the same state", (_Q_3x2, 2, 1, -1.0, 2, False, 0.1, 0.99)),
        Case("5 states x 4 actions, learning rate 1 (the old value is forgotten)",
             (_Q_5x4, 3, 2, 0.5, 4, False, 1.0, 0.8)),
        Case("5 states x 4 actions, all Q values of the next state negative, gamma 0.5",
             (_Q_5x4 - 3.0, 0, 3, 0.0, 1, False, 0.25, 0.5)),
    ],
    mistakes=[
        Mistake("the value of the next state is added after a final step: when `done` is True the episode is over "
                "and the target is the reward alone, `reward + gamma * (1 - done) * max Q[next_state]`.",
                lambda q, s, a, r, s2, done, lr, gamma: _update_towards(
                    q, s, a, r + gamma * np.max(np.asarray(q, dtype=float)[s2]), lr)),
        Mistake("the target uses Q[next_state, action], the value of repeating the same action: Q-learning bootstraps "
                "from the *best* next action, `np.max(q_table[next_state])`.",
                lambda q, s, a, r, s2, done, lr, gamma: _update_towards(
                    q, s, a, r + gamma * (1.0 - float(done)) * np.asarray(q, dtype=float)[s2, a], lr)),
        Mistake("the target averages the next state's values (`mean`): Q-learning takes their maximum, the value of "
                "acting greedily from there.",
                lambda q, s, a, r, s2, done, lr, gamma: _update_towards(
                    q, s, a, r + gamma * (1.0 - float(done)) * np.mean(np.asarray(q, dtype=float)[s2]), lr)),
        Mistake("Q[state, action] is replaced by the target: it must move only `learning_rate` of the way, "
                "`Q[s, a] + learning_rate * (target - Q[s, a])`.",
                lambda q, s, a, r, s2, done, lr, gamma: _update_towards(
                    q, s, a, r + gamma * (1.0 - float(done)) * np.max(np.asarray(q, dtype=float)[s2]), 1.0)),
        Mistake("the maximum is taken over the *current* state's values: the target looks one step ahead, "
                "`np.max(q_table[next_state])`.",
                lambda q, s, a, r, s2, done, lr, gamma: _update_towards(
                    q, s, a, r + gamma * (1.0 - float(done)) * np.max(np.asarray(q, dtype=float)[s]), lr)),
    ],
)

# ------------------------------------------------------------------ exercise: reinforce_loss

_loss_rng = np.random.default_rng(919)
_LOGITS_6x2 = np.round(_loss_rng.normal(size=(6, 2)), 2)
_ACTIONS_6 = np.array([0, 1, 1, 0, 1, 0])
_RETURNS_6 = np.round(_loss_rng.normal(size=6), 2)
_LOGITS_5x3 = np.round(_loss_rng.normal(size=(5, 3)), 2)
_ACTIONS_5 = np.array([2, 0, 1, 2, 2])
_RETURNS_5 = np.array([1.5, -0.5, 0.25, 2.0, -1.0])


def _log_softmax(logits, axis=1):
    logits = np.asarray(logits, dtype=float)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _log_softmax_shifted_by_global_max(logits):
    logits = np.asarray(logits, dtype=float)
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _loss_of(chosen_log_probabilities, returns, reduce=np.mean, sign=-1.0):
    return float(sign * reduce(chosen_log_probabilities * np.asarray(returns, dtype=float)))


reinforce_loss = FunctionExercise(
    exercise_id="ch09.reinforce_loss",
    title="The REINFORCE loss of a batch of steps",
    hints=[
        "Gradient *descent* on this loss must make actions with a high return more likely: the loss is minus the "
        "mean over the batch of log pi(a_i | s_i) times the return G_i.",
        "log pi(a | s) is the log-softmax of the logits, taken at the action played: `log_probabilities[np.arange(n), "
        "actions]`. Compute the log-softmax stably: subtract each row's maximum, then subtract the log of the sum of "
        "the exponentials.",
        "`shifted = logits - logits.max(axis=1, keepdims=True)`, `log_probabilities = shifted - "
        "np.log(np.exp(shifted).sum(axis=1, keepdims=True))`, then `-np.mean(taken * returns)`.",
    ],
    reference=reference_reinforce_loss,
    cases=[
        Case("6 steps, 2 actions", (_LOGITS_6x2, _ACTIONS_6, _RETURNS_6)),
        Case("5 steps, 3 actions", (_LOGITS_5x3, _ACTIONS_5, _RETURNS_5)),
        Case("one step, lists", ([[0.5, -0.5]], [1], [2.0])),
        Case("large logits (up to 1000): the log-softmax must not overflow",
             (np.array([[1000.0, 0.0], [0.0, 800.0], [500.0, 501.0]]), np.array([1, 1, 0]), np.array([1.0, 2.0, -1.0]))),
        Case("all returns 0 (no signal, a loss of 0)", (_LOGITS_6x2, _ACTIONS_6, np.zeros(6))),
        Case("two rows 2000 apart (logits 1000 and -1000): each row needs its own shift",
             (np.array([[1000.0, 0.0], [-1000.0, -999.0], [3.0, 1.0]]), np.array([0, 1, 0]), np.array([0.5, 1.0, -2.0]))),
    ],
    mistakes=[
        Mistake("the sign is flipped: descending +mean(log pi * G) makes the actions with a high return *less* "
                "likely. The loss is `-np.mean(log_probabilities_taken * returns)`.",
                lambda logits, actions, returns: _loss_of(
                    _log_softmax(logits)[np.arange(len(logits)), np.asarray(actions)], returns, sign=1.0)),
        Mistake("the loss sums over the batch: take the mean, so that its size (and the step Adam takes) does not "
                "grow with the number of steps in the batch.",
                lambda logits, actions, returns: _loss_of(
                    _log_softmax(logits)[np.arange(len(logits)), np.asarray(actions)], returns, reduce=np.sum)),
        Mistake("the loss uses the probabilities, not their logarithm: the policy gradient is the gradient of "
                "log pi(a | s).",
                lambda logits, actions, returns: _loss_of(
                    np.exp(_log_softmax(logits))[np.arange(len(logits)), np.asarray(actions)], returns)),
        Mistake("the loss takes the log-probability of the most likely action, not of the action that was *played*: "
                "index with `actions`.",
                lambda logits, actions, returns: _loss_of(
                    _log_softmax(logits).max(axis=1), returns)),
        Mistake("the softmax runs over the batch (axis 0): each step's probabilities are over the actions, along "
                "axis 1.",
                lambda logits, actions, returns: _loss_of(
                    _log_softmax(logits, axis=0)[np.arange(len(logits)), np.asarray(actions)], returns)),
        Mistake("the log-softmax subtracts the maximum of *all* the logits, not each row's: a row far below the largest "
                "logit underflows to log(0) = -inf. Use `logits.max(axis=1, keepdims=True)`.",
                lambda logits, actions, returns: _loss_of(
                    _log_softmax_shifted_by_global_max(logits)[np.arange(len(logits)), np.asarray(actions)], returns)),
        Mistake("the softmax is not shifted by each row's maximum: np.exp of a logit above about 709 overflows "
                "(inf / inf = NaN). Subtract `logits.max(axis=1, keepdims=True)` first.",
                lambda logits, actions, returns: _loss_of(
                    np.log(np.exp(np.asarray(logits, dtype=float)) / np.exp(np.asarray(logits, dtype=float)).sum(
                        axis=1, keepdims=True))[np.arange(len(logits)), np.asarray(actions)], returns)),
    ],
)

# ------------------------------------------------------------------ exercise: cartpole_policy (a design task)

POLICY_MINIMUM_MEAN_LENGTH = 400.0
POLICY_MAX_PARAMETERS = 200  # the lesson's 4 -> 32 -> 2 policy has 226
POLICY_EPISODES = 20
POLICY_FIRST_SEED = 90_000  # no lesson cell seeds an environment at or above 10,000
POLICY_RECIPE = ("Train with the lesson's REINFORCE loop (`train_reinforce`): 16 environments, Adam at 0.01, 80 "
                 "iterations; a hidden layer of 16 ReLU units keeps you within the budget.")


def make_cartpoles(num_environments):
    """`num_environments` CartPole-v1 environments stepped together (an episode's end resets it in the same step)."""
    import gymnasium

    return gymnasium.make_vec("CartPole-v1", num_envs=num_environments, vectorization_mode="sync",
                              vector_kwargs={"autoreset_mode": gymnasium.vector.AutoresetMode.SAME_STEP})


def greedy_episode_lengths(model, num_episodes=POLICY_EPISODES, seed=POLICY_FIRST_SEED, max_steps=500):
    """The length of one greedy episode (argmax of the model's outputs) per environment, or None on NaN outputs."""
    environments = make_cartpoles(num_episodes)
    observations, _ = environments.reset(seed=seed)
    lengths = np.zeros(num_episodes, dtype=int)
    running = np.ones(num_episodes, dtype=bool)
    for _ in range(max_steps):
        outputs = np.asarray(model.predict_on_batch(observations.astype("float32")), dtype=float)
        if not np.all(np.isfinite(outputs)):
            return None
        observations, _, terminated, truncated, _ = environments.step(outputs.argmax(axis=1))
        lengths += running
        running &= ~(terminated | truncated)
        if not running.any():
            break
    environments.close()
    return lengths


def constant_action_advice(model):
    """Advice when the policy picks the same action in every state of a fixed set of states; else ''."""
    states = np.random.default_rng(POLICY_FIRST_SEED).uniform(-0.2, 0.2, size=(64, 4)).astype("float32")
    actions = np.asarray(model.predict_on_batch(states)).argmax(axis=1)
    if len(set(actions.tolist())) > 1:
        return ""
    return (f"Your policy pushes {'right' if actions[0] else 'left'} in every state it was shown, so the pole falls "
            "within a few dozen steps. Its outputs must depend on the pole's angle and angular velocity: train it "
            "(more iterations, or a learning rate of about 0.01).")


def untrained_policy_advice(model):
    """Advice naming the layers that still hold Keras' initial values (zero biases); else ''."""
    found = diagnostics.untrained_layers(model)
    if not found:
        return ""
    return (f"Never trained: {', '.join(found)} still {'holds' if len(found) == 1 else 'hold'} Keras' initial values. "
            "Train the policy with the REINFORCE loop before checking it.")


POLICY_EVIDENCE = (untrained_policy_advice, constant_action_advice)


def score_cartpole_policy(model):
    """The mean length of 20 greedy CartPole-v1 episodes whose seeds no lesson cell uses (500 is the most), and a
    problem or ''."""
    lengths = greedy_episode_lengths(model)
    if lengths is None:
        return 0.0, "Your policy outputs NaN or infinity: training diverged. Lower the learning rate and rebuild it."
    if lengths.mean() < POLICY_MINIMUM_MEAN_LENGTH:
        line = (f"Your policy keeps the pole up for {lengths.mean():.1f} steps on average (shortest {lengths.min()}, "
                f"longest {lengths.max()}) over {POLICY_EPISODES} new episodes, below the required "
                f"{POLICY_MINIMUM_MEAN_LENGTH:.0f}.")
        return float(lengths.mean()), low_score_message(line, gather_evidence(POLICY_EVIDENCE, model), POLICY_RECIPE)
    return float(lengths.mean()), ""


def build_cartpole_policy_reference_model():
    """An example design within the budget: 4 -> 16 ReLU -> 2 logits (114 parameters)."""
    import keras

    return keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])


cartpole_policy = DesignExercise(
    exercise_id="ch09.cartpole_policy",
    title="Design and train a CartPole policy within 200 parameters",
    hints=[
        "The lesson's policy (4 -> 32 -> 2) has 226 parameters; a hidden layer of 16 units has "
        "4 x 16 + 16 + 16 x 2 + 2 = 114. Even a linear policy (4 -> 2, 10 parameters) can balance the pole.",
        "`train_reinforce(policy, iterations=80, seed=...)` trains any Keras model that maps the 4 numbers of a "
        "state to 2 logits.",
        "`keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(16, activation=\"relu\"), "
        "keras.layers.Dense(2)])`, then `train_reinforce(cartpole_policy, iterations=80, seed=1)`.",
    ],
    build_reference=build_cartpole_policy_reference_model,
    score_model=score_cartpole_policy,
    metric_name="mean episode length (greedy, 20 new episodes)",
    minimum_score=POLICY_MINIMUM_MEAN_LENGTH,
    low_score_advice=POLICY_RECIPE,
    low_score_evidence=POLICY_EVIDENCE,
    time_limit_seconds=60.0,
    max_parameters=POLICY_MAX_PARAMETERS,
    input_shape=(4,),
    output_shape=(2,),
    required_layers=("Dense",),
    required_layers_description="a neural network policy, with Dense layers",
)

# ------------------------------------------------------------------ exercise: normalized_adjacency

_PATH_3 = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
_TRIANGLE_AND_LONER = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
_STAR_5 = np.zeros((5, 5))
_STAR_5[0, 1:] = _STAR_5[1:, 0] = 1
_graph_rng = np.random.default_rng(929)
_RANDOM_7 = np.triu((_graph_rng.uniform(size=(7, 7)) < 0.4).astype(float), 1)
_RANDOM_7 = _RANDOM_7 + _RANDOM_7.T
_WEIGHTED_3 = np.array([[0.0, 2.0, 0.5], [2.0, 0.0, 0.0], [0.5, 0.0, 0.0]])
_DIRECTED_4 = np.array([[0, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]])


def _scaled(matrix, left_power, right_power, self_loops=True, degree_from_loops=True):
    matrix = np.asarray(matrix, dtype=float)
    with_loops = matrix + np.eye(len(matrix)) if self_loops else matrix
    degrees = (matrix + np.eye(len(matrix)) if degree_from_loops else matrix).sum(axis=1)
    with np.errstate(divide="ignore"):
        return (degrees ** left_power)[:, None] * with_loops * (degrees ** right_power)[None, :]


normalized_adjacency = FunctionExercise(
    exercise_id="ch09.normalized_adjacency",
    title="The normalised adjacency matrix D^-1/2 (A + I) D^-1/2",
    hints=[
        "Add the self-loops first, `A + I` (`np.eye(n)`), so that each node keeps its own features; the degrees are "
        "the row sums of A + I.",
        "Scaling entry (i, j) by 1 / sqrt(d_i d_j) is the same as multiplying by the diagonal matrix D^-1/2 on both "
        "sides: `inverse_root[:, None] * (A + I) * inverse_root[None, :]`.",
        "`with_loops = A + np.eye(len(A))`, `inverse_root = 1 / np.sqrt(with_loops.sum(axis=1))`, then the product "
        "above (or `np.diag(inverse_root) @ with_loops @ np.diag(inverse_root)`).",
    ],
    reference=reference_normalized_adjacency,
    cases=[
        Case("a path of 3 nodes", (_PATH_3,)),
        Case("a triangle and one node without edges", (_TRIANGLE_AND_LONER,)),
        Case("a star: node 0 linked to 4 others", (_STAR_5,)),
        Case("a random graph of 7 nodes", (_RANDOM_7,)),
        Case("weighted edges (weights 2 and 0.5 count in the degrees)", (_WEIGHTED_3,)),
        Case("a directed graph (not symmetric): the degrees are the row sums", (_DIRECTED_4,)),
    ],
    mistakes=[
        Mistake("there are no self-loops: add I to A before normalising (`A + np.eye(n)`), or each node forgets its "
                "own features, and a node without edges divides by a degree of 0.",
                lambda a: _scaled(a, -0.5, -0.5, self_loops=False, degree_from_loops=False)),
        Mistake("the degrees are counted without the self-loops: D holds the row sums of A + I, one more than the "
                "number of neighbours.",
                lambda a: _scaled(a, -0.5, -0.5, degree_from_loops=False)),
        Mistake("the normalisation is D^-1 (A + I), an average over each row: this exercise asks for the symmetric "
                "D^-1/2 (A + I) D^-1/2, which scales entry (i, j) by 1 / sqrt(d_i d_j).",
                lambda a: _scaled(a, -1.0, 0.0)),
        Mistake("only one side is scaled by D^-1/2: multiply by it on the left *and* on the right.",
                lambda a: _scaled(a, -0.5, 0.0)),
        Mistake("the scaling uses D^-1 on both sides instead of D^-1/2: each entry is divided by d_i d_j, not by its "
                "square root.",
                lambda a: _scaled(a, -1.0, -1.0)),
        Mistake("the degrees are the column sums (axis 0): D holds the *row* sums of A + I, `sum(axis=1)` (the two "
                "differ when the graph is directed).",
                lambda a: _scaled(np.asarray(a, dtype=float).T, -0.5, -0.5).T),
    ],
)

# ------------------------------------------------------------------ exercise: graph_convolution

_conv_rng = np.random.default_rng(939)
_FEATURES_3x2 = np.round(_conv_rng.normal(size=(3, 2)), 2)
_KERNEL_2x4 = np.round(_conv_rng.normal(size=(2, 4)), 2)
_BIAS_4 = np.array([0.1, -0.2, 0.0, 0.3])
_FEATURES_7x3 = np.round(_conv_rng.normal(size=(7, 3)), 2)
_KERNEL_3x2 = np.round(_conv_rng.normal(size=(3, 2)), 2)
_BIAS_2 = np.array([0.5, -0.1])
_ROW_AVERAGE_4 = np.array([[0.2, 0.3, 0.5, 0.0], [0.25, 0.25, 0.5, 0.0], [0.4, 0.4, 0.2, 0.0], [0.0, 0.0, 0.0, 1.0]])
_FEATURES_4x3 = np.round(_conv_rng.normal(size=(4, 3)), 2)


def _convolution(normalized_adjacency, features, kernel, bias, aggregate=True, transpose=False, relu=True,
                 with_bias=True):
    adjacency = np.asarray(normalized_adjacency, dtype=float)
    propagation = adjacency.T if transpose else adjacency
    values = np.asarray(features, dtype=float)
    if aggregate:
        values = propagation @ values
    values = values @ np.asarray(kernel, dtype=float)
    if with_bias:
        values = values + np.asarray(bias, dtype=float)
    return np.maximum(values, 0.0) if relu else values


graph_convolution = FunctionExercise(
    exercise_id="ch09.graph_convolution",
    title="A graph-convolution layer in NumPy",
    hints=[
        "Three steps: transform each node's features with the kernel (X W), average them over each node's "
        "neighbourhood with the normalised adjacency (Â (X W)), then add the bias and apply ReLU.",
        "Row i of `normalized_adjacency @ features` mixes the features of the nodes that node i is linked to, "
        "weighted by row i of the matrix.",
        "`np.maximum(normalized_adjacency @ features @ kernel + bias, 0)`.",
    ],
    reference=reference_graph_convolution,
    cases=[
        Case("a path of 3 nodes, 2 features in, 4 out", (reference_normalized_adjacency(_PATH_3), _FEATURES_3x2,
                                                          _KERNEL_2x4, _BIAS_4)),
        Case("a random graph of 7 nodes, 3 features in, 2 out",
             (reference_normalized_adjacency(_RANDOM_7), _FEATURES_7x3, _KERNEL_3x2, _BIAS_2)),
        Case("a propagation matrix that is not symmetric (rows are weighted averages), 4 nodes",
             (_ROW_AVERAGE_4, _FEATURES_4x3, _KERNEL_3x2, _BIAS_2)),
        Case("the identity as propagation matrix (a graph without edges: a plain Dense layer)",
             (np.eye(3), _FEATURES_3x2, _KERNEL_2x4, _BIAS_4)),
    ],
    mistakes=[
        Mistake("there is no ReLU: the layer's output is `np.maximum(Â X W + b, 0)`.",
                lambda adjacency, features, kernel, bias: _convolution(adjacency, features, kernel, bias, relu=False)),
        Mistake("the bias is missing: add `bias` before the ReLU.",
                lambda adjacency, features, kernel, bias: _convolution(adjacency, features, kernel, bias,
                                                                       with_bias=False)),
        Mistake("the features are not propagated over the edges: this is a Dense layer, `X W + b`. Multiply by the "
                "normalised adjacency, `Â X W`, so that each node mixes in its neighbours' features.",
                lambda adjacency, features, kernel, bias: _convolution(adjacency, features, kernel, bias,
                                                                       aggregate=False)),
        Mistake("the propagation matrix is transposed: node i gathers from row i of the matrix, `Â @ X`, not `Â.T @ X` "
                "(the two agree only when the matrix is symmetric).",
                lambda adjacency, features, kernel, bias: _convolution(adjacency, features, kernel, bias,
                                                                       transpose=True)),
    ],
)

# ------------------------------------------------------------------ exercise: gcn_classifier (a scored function)

GCN_MINIMUM_ACCURACY = 0.80
GCN_RECIPE = ("Two graph-convolution layers (16 ReLU units, then one softmax unit per class), both multiplying by the "
              "normalised adjacency; Adam at 0.01, about 200 full-graph steps, the loss weighted by 1 on the labelled "
              "nodes and 0 elsewhere; return the argmax of each node's probabilities.")


def karate_club():
    """The karate club's adjacency (34 x 34) and its faction per node (0: Mr. Hi's, 1: the Officer's)."""
    from dlcourse import datasets

    adjacency, factions, _ = datasets.load_karate_club()
    return adjacency, factions


def stochastic_block_graph(seed=949, sizes=(14, 12, 16), inside=0.3, between=0.02):
    """A random graph of three communities (edges likelier inside one), and each node's community."""
    rng = np.random.default_rng(seed)
    communities = np.repeat(np.arange(len(sizes)), sizes)
    probabilities = np.where(communities[:, None] == communities[None, :], inside, between)
    upper = np.triu(rng.uniform(size=probabilities.shape) < probabilities, 1).astype(float)
    return upper + upper.T, communities


_KARATE_CHECK_LABELLED = (4, 10, 23, 31)  # two of each faction, none of them a node the lesson labels
_BLOCK_CHECK_LABELLED = (2, 9, 15, 20, 30, 37)  # two of each community


def _labels_given(truth, labelled):
    labels = np.full(len(truth), -1)
    labels[list(labelled)] = np.asarray(truth)[list(labelled)]
    return labels


def _gcn_cases():
    karate_adjacency, factions = karate_club()
    block_adjacency, communities = stochastic_block_graph()
    return [
        Case("the karate club with 4 labelled members (2 per faction, not the lesson's), one-hot node features",
             (karate_adjacency, np.eye(len(factions)), _labels_given(factions, _KARATE_CHECK_LABELLED))),
        Case("a new graph of 42 nodes in 3 communities with 6 labelled nodes (2 per community), one-hot features",
             (block_adjacency, np.eye(len(communities)), _labels_given(communities, _BLOCK_CHECK_LABELLED))),
    ]


def _truth_of(case):
    """The true class of every node of a case's graph (held by the check, not sent to the answer)."""
    if case.args[0].shape[0] == 34:
        return karate_club()[1]
    return stochastic_block_graph()[1]


def _labelled_accuracy(case, predictions):
    """The share of the labelled nodes (whose labels the answer was given) that the predictions get right."""
    labels = np.asarray(case.args[2])
    labelled = labels >= 0
    return float(np.mean(np.asarray(predictions).reshape(-1)[labelled] == labels[labelled]))


def undertrained_advice(case, predictions):
    """Advice when the predictions miss labelled nodes, whose labels the answer was given; else ''."""
    accuracy = _labelled_accuracy(case, predictions)
    if accuracy == 1.0:
        return ""
    return (f"Your predictions are right on only {accuracy:.0%} of the *labelled* nodes, whose labels your function "
            "was given: train longer (about 200 steps, Adam at 0.01), with the loss on those nodes.")


EDGE_AGREEMENT_FLOOR = 0.75  # linked nodes share their true class on 86 % (karate) and 89 % (blocks) of the edges


def edges_ignored_advice(case, predictions):
    """Advice when the labelled nodes are right but linked nodes often get different classes (as if the edges were
    ignored); else ''."""
    if _labelled_accuracy(case, predictions) < 1.0:
        return ""
    adjacency, predictions = np.asarray(case.args[0]), np.asarray(predictions).reshape(-1)
    first, second = np.nonzero(np.triu(adjacency))
    agreement = float(np.mean(predictions[first] == predictions[second]))
    if agreement >= EDGE_AGREEMENT_FLOOR:
        return ""
    return (f"Your predictions fit the labelled nodes, but linked nodes get the same class on only {agreement:.0%} of "
            "the edges, as if the edges were ignored: each layer must multiply by the normalised adjacency "
            "(`Â X W`), so that labels spread along the edges. A model that ignores the edges, like an MLP on one-hot "
            "features, can only memorise the labelled nodes.")


GCN_EVIDENCE = (undertrained_advice, edges_ignored_advice)


def score_gcn_predictions(case, predictions):
    """Accuracy on the unlabelled nodes of the case's graph, and a problem or ''."""
    labels = np.asarray(case.args[2])
    num_nodes, num_classes = len(labels), int(labels.max()) + 1
    predictions = np.asarray(predictions)
    if predictions.shape == (num_nodes, num_classes):
        return 0.0, ("your function returns one row of class probabilities per node: return the predicted class of "
                     "each node, `probabilities.argmax(axis=1)`.")
    if predictions.reshape(-1).shape != (num_nodes,):
        return 0.0, f"your function returns shape {predictions.shape}; the task needs one class per node, ({num_nodes},)."
    predictions = predictions.reshape(-1)
    if predictions.dtype.kind == "f" and not np.all(np.isfinite(predictions)):
        return 0.0, "your predictions contain NaN: training diverged. Lower the learning rate."
    if not np.all(np.isin(predictions, np.arange(num_classes))):
        return 0.0, (f"your predictions should be class numbers 0 to {num_classes - 1}; they include "
                     f"{sorted(set(np.unique(predictions).tolist()) - set(range(num_classes)))[:5]}.")
    unlabelled = labels < 0
    truth = _truth_of(case)
    accuracy = float(np.mean(predictions[unlabelled] == truth[unlabelled]))
    if accuracy < GCN_MINIMUM_ACCURACY and len(set(predictions.tolist())) == 1:
        return accuracy, low_score_message(f"your function predicts class {predictions[0]} for every node.",
                                           gather_evidence(GCN_EVIDENCE, case, predictions), GCN_RECIPE)
    return accuracy, ""


gcn_classifier = ScoredFunctionExercise(
    exercise_id="ch09.gcn_classifier",
    title="A GCN that labels the unlabelled nodes",
    hints=[
        "Build the lesson's two-layer GCN for the graph you are given: normalise its adjacency, then "
        "`GraphConvolution(16, Â, \"relu\")` and `GraphConvolution(num_classes, Â, \"softmax\")`, where "
        "`num_classes = labels.max() + 1`.",
        "Train on the labelled nodes only: a sample weight of 1 where `labels >= 0` and 0 elsewhere (the -1 labels "
        "then cost nothing; replace them by 0 so the loss can read them). About 200 `train_on_batch` steps on the "
        "whole graph at once, Adam at 0.01.",
        "`model.train_on_batch(features, np.maximum(labels, 0), sample_weight=(labels >= 0).astype(\"float32\"))` in a "
        "loop, then `return keras.ops.convert_to_numpy(model(features)).argmax(axis=1)`.",
    ],
    cases=LazyCases(_gcn_cases),  # built on first use: they need networkx
    score_output=score_gcn_predictions,
    minimum_score=GCN_MINIMUM_ACCURACY,
    metric_name="accuracy on the unlabelled nodes",
    low_score_advice=GCN_RECIPE,
    low_score_evidence=GCN_EVIDENCE,
    time_limit_seconds=60.0,
)

EXERCISES = [discounted_returns, epsilon_greedy_probabilities, q_learning_update, reinforce_loss, cartpole_policy,
             normalized_adjacency, graph_convolution, gcn_classifier]
