#!/usr/bin/env python3
"""regrasp's physics beside MuJoCo's on the same arm, the same rates and a grasp, in one run.

Run it with scripts/bench-vs-mujoco.sh, which installs the pinned MuJoCo into a local virtual
environment and builds regrasp. Each round runs `regrasp bench sim --json --single-thread`
(rapier, one thread, the scripted grasp over the arm's training scenarios) and then MuJoCo on
one thread in this process, alternating so both see the same machine state, and prints the
ratio of physics steps per second (regrasp / MuJoCo) with each round's figures.

The MuJoCo scene is built from the arm's own URDF file (MjSpec.from_file): the arm's links,
joints, limits, masses and inertias as the file gives them; a table slab whose top is z = 0
(regrasp's half extents and friction), a 4 cm, 100 g box on it, and one position actuator per
joint with regrasp's motor model (arm: kp = effort / saturation error, kv = kp × damping time,
force limited to the URDF effort; fingers: regrasp's finger gains and the URDF effort). The arm
links do not collide with each other (as in regrasp). The physics rate and the physics steps
per control step are regrasp's (240 Hz, 12 per 20 Hz control step); MuJoCo's solver settings
are its defaults (Newton, pyramidal cones) but for the integrator: implicitfast, which MuJoCo recommends
for position actuators (with Euler the arm chatters, every joint saturated at its effort limit). Each control step sets joint
targets from a grasp cycle planned once by inverse kinematics on MuJoCo's model (approach above
the box, descend, close, lift, hold, open, and the box put back), so the fingers, the box and
the table are in contact as in a grasp; the contacts per step and the lifts are printed so the
motion can be checked.

What the two figures contain differs, and the printout says so: regrasp's includes, per
control step, its inverse kinematics, observation, reward, outcome classifier and, per episode,
the world rebuilt for the next scenario; MuJoCo's is mj_step alone (the control-step targets
cost a few microseconds). regrasp's breakdown also times its physics alone (motor commands,
rapier's step, contact readout) inside the same run; both ratios are printed.
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

import mujoco
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# regrasp's values (sim/src/world.rs, examples/env.toml, sim/assets/regrasp_arm5.toml).
TABLE_HALF_EXTENTS = [0.45, 0.55, 0.02]
TABLE_CENTER = [0.15, 0.0, -0.02]
TABLE_FRICTION = 0.8
ARM_SATURATION_ERROR = 0.05  # rad
ARM_DAMPING_TIME = 0.02  # s
FINGER_STIFFNESS = 2000.0  # N/m
FINGER_DAMPING = 20.0  # N·s/m
FINGER_FRICTION = 1.0
TOOL_LINK = "palm"
TOOL_OFFSET = [0.0, 0.0, 0.055]  # m, in the palm's frame
ARM_JOINTS = ["base_yaw", "shoulder_pitch", "elbow_pitch", "wrist_pitch", "wrist_roll"]
FINGERS = ["finger_left", "finger_right"]
BOX_HALF = 0.02  # m
BOX_MASS = 0.1  # kg
BOX_AT = [0.28, 0.0]  # m


def build(urdf, physics_hz):
    """The MuJoCo model: the URDF's arm, a table, a box, position actuators."""
    spec = mujoco.MjSpec.from_file(urdf)
    spec.option.timestep = 1.0 / physics_hz
    # MuJoCo's recommended integrator for position actuators: with its default (Euler, damping
    # explicit) these light links chatter at 240 Hz, every joint saturated at ±effort.
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    for g in spec.geoms:  # arm links: touch the table and the box, never each other
        g.contype, g.conaffinity = 2, 1
        g.friction = [FINGER_FRICTION, 0.005, 0.0001]
    world = spec.worldbody
    world.add_geom(
        name="table",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=TABLE_HALF_EXTENTS,
        pos=TABLE_CENTER,
        contype=1,
        conaffinity=2,
        friction=[TABLE_FRICTION, 0.005, 0.0001],
    )
    box = world.add_body(name="box", pos=[BOX_AT[0], BOX_AT[1], BOX_HALF])
    box.add_freejoint(name="box")
    box.add_geom(
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[BOX_HALF] * 3,
        mass=BOX_MASS,
        contype=3,
        conaffinity=3,
        friction=[0.8, 0.005, 0.0001],
    )
    tool = spec.body(TOOL_LINK)
    tool.add_site(name="tool", pos=TOOL_OFFSET)
    for j in spec.joints:
        if j.type == mujoco.mjtJoint.mjJNT_FREE:
            continue
        effort = j.actfrcrange[1] if j.actfrclimited else None
        a = spec.add_actuator(name=j.name, target=j.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        if j.name in FINGERS:
            kp, kv = FINGER_STIFFNESS, FINGER_DAMPING
        else:
            kp = (effort or 1.0) / ARM_SATURATION_ERROR
            kv = kp * ARM_DAMPING_TIME
        a.set_to_position(kp=kp, kv=kv)
        if effort:
            a.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
            a.forcerange = [-effort, effort]
    return spec.compile()


def ik(model, q0, goal, iterations=200):
    """Arm joint positions placing the tool at `goal` (m) pointing straight down (the tool's z
    axis along −z), by damped least squares on MuJoCo's kinematics."""
    d = mujoco.MjData(model)
    d.qpos[:] = q0
    site = model.site("tool").id
    arm = [model.joint(n).qposadr[0] for n in ARM_JOINTS]
    jp = np.zeros((3, model.nv))
    jr = np.zeros((3, model.nv))
    for _ in range(iterations):
        mujoco.mj_kinematics(model, d)
        mujoco.mj_comPos(model, d)
        pos = d.site_xpos[site]
        z = d.site_xmat[site].reshape(3, 3)[:, 2]
        err = np.concatenate([goal - pos, 0.3 * np.cross(z, [0.0, 0.0, -1.0])])
        if np.linalg.norm(err) < 1e-6:
            break
        mujoco.mj_jacSite(model, d, jp, jr, site)
        jac = np.vstack([jp, 0.3 * jr])[:, [model.joint(n).dofadr[0] for n in ARM_JOINTS]]
        dq = jac.T @ np.linalg.solve(jac @ jac.T + 1e-4 * np.eye(6), err)
        for k, a in enumerate(arm):
            lo, hi = model.jnt_range[model.joint(ARM_JOINTS[k]).id]
            d.qpos[a] = np.clip(d.qpos[a] + dq[k], lo, hi)
    return np.array([d.qpos[a] for a in arm])


def grasp_cycle(model):
    """Control-step joint targets of one grasp cycle: (arm targets, finger target, reset box)."""
    q0 = np.zeros(model.nq)
    above = ik(model, q0, np.array([BOX_AT[0], BOX_AT[1], 0.12]))
    q1 = q0.copy()
    for k, n in enumerate(ARM_JOINTS):
        q1[model.joint(n).qposadr[0]] = above[k]
    at = ik(model, q1, np.array([BOX_AT[0], BOX_AT[1], BOX_HALF]))
    opened, closed = 0.035, 0.0
    steps = []

    def move(a, b, n, finger):
        for i in range(1, n + 1):
            steps.append((a + (b - a) * i / n, finger, False))

    move(above, above, 10, opened)
    move(above, at, 20, opened)
    move(at, at, 10, closed)
    move(at, above, 20, closed)
    move(above, above, 10, closed)
    move(above, above, 9, opened)
    steps.append((above, opened, True))
    return steps


def run_mujoco(model, physics_steps, substeps):
    d = mujoco.MjData(model)
    cycle = grasp_cycle(model)
    arm_act = [model.actuator(n).id for n in ARM_JOINTS]
    finger_act = [model.actuator(n).id for n in FINGERS]
    box = model.joint("box").qposadr[0]
    box_home = d.qpos[box : box + 7].copy()
    mujoco.mj_forward(model, d)
    contacts = 0
    lifts, tries = 0, 0
    control_steps = physics_steps // substeps
    start = time.perf_counter()
    for c in range(control_steps):
        arm, finger, reset = cycle[c % len(cycle)]
        d.ctrl[arm_act] = arm
        d.ctrl[finger_act] = finger
        if c % len(cycle) == 59:  # end of the hold: is the box up?
            tries += 1
            lifts += d.qpos[box + 2] > BOX_HALF + 0.05
        if reset:
            d.qpos[box : box + 7] = box_home
            d.qvel[model.joint("box").dofadr[0] : model.joint("box").dofadr[0] + 6] = 0.0
        for _ in range(substeps):
            mujoco.mj_step(model, d)
            contacts += d.ncon
    wall = time.perf_counter() - start
    n = control_steps * substeps
    return {
        "physics_steps_per_s": n / wall,
        "control_steps_per_s": control_steps / wall,
        "contacts_per_step": contacts / n,
        "lifted": f"{lifts}/{tries}",
    }


def run_regrasp(binary, arm, steps):
    cmd = [binary, "bench", "sim", "--json", "--single-thread", "--arm", arm, "--steps", str(steps)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["single_thread"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--regrasp", default=os.path.join(ROOT, "target", "release", "regrasp"))
    p.add_argument("--arm", default="regrasp-arm5", help="shipped arm (its URDF is loaded by MuJoCo)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=2000, help="control steps per round and side")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--cpu",
        type=int,
        default=None,
        help="run both sides on this one CPU (Linux; regrasp inherits the affinity): the two then "
        "share a core's caches and clock instead of whichever cores the scheduler picks",
    )
    a = p.parse_args()
    if a.cpu is not None:
        try:
            os.sched_setaffinity(0, {a.cpu})
        except (AttributeError, OSError) as e:
            sys.exit(f"--cpu {a.cpu}: cannot pin to that CPU ({e}); give one of {sorted(os.sched_getaffinity(0))} or leave --cpu out")
    if a.arm != "regrasp-arm5":
        sys.exit("only regrasp-arm5 is set up on MuJoCo's side (its motor and tool values are in this script)")
    urdf = os.path.join(ROOT, "sim", "assets", "regrasp_arm5.urdf")
    physics_hz, control_hz = 240.0, 20.0
    substeps = int(round(physics_hz / control_hz))
    model = build(urdf, physics_hz)
    rounds = []
    for r in range(a.rounds):
        rg = run_regrasp(a.regrasp, a.arm, a.steps)
        mj = run_mujoco(model, a.steps * substeps, substeps)
        rounds.append({"regrasp": rg, "mujoco": mj})
        if not a.json:
            b = rg["breakdown"]
            print(
                f"round {r + 1}: regrasp {rg['physics_steps_per_s']:7.0f} physics steps/s "
                f"(physics alone {b['physics_only_steps_per_s']:7.0f}: {100 * b['physics']:.0f} % of its time; "
                f"{b['contacts_per_step']:.1f} contacts/step), "
                f"MuJoCo {mj['physics_steps_per_s']:7.0f} "
                f"({mj['contacts_per_step']:.1f} contacts/step, box lifted {mj['lifted']})",
                flush=True,
            )
    ratio = [x["regrasp"]["physics_steps_per_s"] / x["mujoco"]["physics_steps_per_s"] for x in rounds]
    ratio_physics = [
        x["regrasp"]["breakdown"]["physics_only_steps_per_s"] / x["mujoco"]["physics_steps_per_s"] for x in rounds
    ]
    summary = {
        "arm": a.arm,
        "physics_hz": physics_hz,
        "control_hz": control_hz,
        "mujoco_version": mujoco.__version__,
        "rounds": rounds,
        "cpu": a.cpu,
        "ratio_median": statistics.median(ratio),
        "ratio_range": [min(ratio), max(ratio)],
        "ratio_physics_only_median": statistics.median(ratio_physics),
        "ratio_physics_only_range": [min(ratio_physics), max(ratio_physics)],
    }
    if a.json:
        print(json.dumps(summary))
        return
    print(
        f"regrasp / MuJoCo {mujoco.__version__}, physics steps/s, one thread each, {a.rounds} rounds: "
        f"{summary['ratio_median']:.2f}× (range {min(ratio):.2f}–{max(ratio):.2f}); "
        f"physics only {summary['ratio_physics_only_median']:.2f}× "
        f"(range {min(ratio_physics):.2f}–{max(ratio_physics):.2f})"
    )


if __name__ == "__main__":
    main()
