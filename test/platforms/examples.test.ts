import assert from "node:assert/strict";
import { test } from "node:test";
import { compose, dockerfile, ecsContainer, kubernetes, railway, render } from "./read-examples.js";

// The settings docs/platforms/ states for each example that cannot run here
// (no container engine, no cluster, no cloud), read from the files themselves.
// The Dockerfile also runs, in containers.test.ts; the unit file in
// systemd.test.ts; fly.toml in fly.test.ts.

test("Dockerfile: exec-form ENTRYPOINT with an init before jobguard, exec-form CMD, SIGTERM, Docker's grace", () => {
  const image = dockerfile();
  assert.ok(image.entrypoint, "ENTRYPOINT in exec form: a shell form makes /bin/sh PID 1, deaf to SIGTERM");
  assert.ok(image.cmd, "CMD in exec form");
  assert.match(image.entrypoint[0]!, /(^|\/)(tini|dumb-init)$/, "an init as PID 1 reaps orphans");
  assert.deepEqual(
    image.entrypoint.slice(-2),
    ["node_modules/.bin/jobguard", "--"],
    "jobguard, then the CMD",
  );
  assert.equal(image.stopSignal, "SIGTERM");
  assert.equal(image.env.JOBGUARD_GRACE, "10", "docker stop's default grace");
  assert.equal(image.env.JOBGUARD_DEADLINE, undefined, "the deadline follows the grace");
});

test("Kubernetes manifest: JOBGUARD_GRACE is terminationGracePeriodSeconds less any preStop hook; the ENTRYPOINT is kept", () => {
  const pod = kubernetes();
  assert.ok(pod.grace, "JOBGUARD_GRACE is set: Kubernetes' 30 s default is not Docker's 10");
  assert.equal(Number(pod.grace), pod.terminationGracePeriodSeconds - pod.preStopSeconds);
  assert.equal(
    pod.overridesEntrypoint,
    false,
    "`command` would replace tini and jobguard; `args` replaces CMD",
  );
});

test("compose.yaml: stop_grace_period is JOBGUARD_GRACE; SIGTERM; an init, the image's or Docker's", () => {
  const service = compose();
  const period = /^(\d+)s$/.exec(service.stopGracePeriod ?? "")?.[1];
  assert.ok(period, "stop_grace_period in whole seconds");
  assert.equal(service.env.JOBGUARD_GRACE, period);
  assert.equal(service.stopSignal, "SIGTERM");
  assert.ok(
    service.init || dockerfile().entrypoint?.[0]?.endsWith("tini"),
    "tini in the image or init: true",
  );
});

test("render.yaml: maxShutdownDelaySeconds is JOBGUARD_GRACE, within Render's 1 to 300; the Dockerfile's ENTRYPOINT", () => {
  const worker = render();
  assert.equal(worker.env.JOBGUARD_GRACE, String(worker.maxShutdownDelaySeconds));
  assert.ok(worker.maxShutdownDelaySeconds >= 1 && worker.maxShutdownDelaySeconds <= 300);
  assert.equal(worker.runtime, "docker");
});

test("ECS task definition: stopTimeout is JOBGUARD_GRACE, at most Fargate's 120; an init; command keeps the ENTRYPOINT", () => {
  const container = ecsContainer();
  const grace = container.environment?.find((e) => e.name === "JOBGUARD_GRACE")?.value;
  assert.equal(typeof container.stopTimeout, "number");
  assert.equal(grace, String(container.stopTimeout));
  assert.ok(container.stopTimeout! <= 120);
  assert.equal(container.linuxParameters?.initProcessEnabled, true);
  assert.equal(container.entryPoint, undefined, "entryPoint would replace tini and jobguard");
});

test("railway.json: drainingSeconds is a number, set well above Railway's few seconds", () => {
  const deploy = railway();
  assert.equal(typeof deploy.drainingSeconds, "number", "Railway's parser refuses a string");
  assert.ok((deploy.drainingSeconds as number) >= 10);
});
