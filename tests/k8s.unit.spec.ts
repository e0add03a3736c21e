import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect, createServer, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import type { IDeployment } from 'kubernetes-models/apps/v1';
import type { IContainer, IPod, IProbe } from 'kubernetes-models/v1';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { describeIssues } from '@siteflow/contracts';
import { BaseServiceConfig } from '@siteflow/servicekit';
import { DocumentsConfig } from '../services/documents/src/config.js';
import { GatewayConfig } from '../services/gateway/src/config.js';
import { registerRoutes } from '../services/gateway/src/http/routes.js';
import { PresenceConfig } from '../services/presence/src/config.js';

// infra/k8s: the production overlay rendered by the real kustomize (the one inside kubectl, no
// cluster needed), every object checked against the Kubernetes API schema (kubernetes-models'
// validators) and for fields the API does not know (TypeScript's excess-property check against
// kubernetes-models' types: kubectl's strict field validation refuses them, the schema alone does
// not), then against the processes themselves: their config schemas, their HTTP routes, their
// drain times, and the NATS users of infra/nats/auth.conf.
const root = fileURLToPath(new URL('..', import.meta.url));
const k8sDir = path.join(root, 'infra/k8s');
const require = createRequire(import.meta.url);

type Process = 'gateway' | 'chat' | 'documents' | 'presence' | 'checklist';
const SERVICES = ['chat', 'documents', 'presence', 'checklist'] as const;
const PROCESSES: readonly Process[] = ['gateway', ...SERVICES];
/** The schema each process parses its environment with (chat and checklist take the base one). */
const CONFIG_SCHEMAS: Record<Process, z.ZodType> = {
  gateway: GatewayConfig,
  chat: BaseServiceConfig,
  documents: DocumentsConfig,
  presence: PresenceConfig,
  checklist: BaseServiceConfig,
};

/** Drain bounds written in code, not config (each named where it lives). */
const DRAIN = {
  /** packages/servicekit boot.ts: the outbox flush on stop. */
  relayFlushS: 2,
  /** services/gateway PresenceTracker.close(): the untracks of every socket. */
  gatewayUntrackS: 2,
  /** ws: how long a socket's close handshake may wait for a silent client before it is cut. */
  wsCloseHandshakeS: 30,
  /** How much longer than the drain a pod may take before SIGKILL (NATS drain, pool end). */
  slackS: 10,
};

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}
interface SecretObject extends K8sObject {
  data?: Record<string, string>;
}

let workdir: string;
let resources: K8sObject[];
let deployments: Array<{ process: Process; deployment: IDeployment; container: IContainer }>;

function render(overlay: string): K8sObject[] {
  const result = spawnSync('kubectl', ['kustomize', overlay], { encoding: 'utf8' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    expect.fail(
      'kubectl is not on PATH: it renders the kustomizations offline (`kubectl kustomize`); Debian: `apt-get install kubernetes-client`',
    );
  }
  expect(result.status, result.stderr).toBe(0);
  const objects = parseAllDocuments(result.stdout).map((d) => d.toJS() as K8sObject);
  // kustomize wraps long base64 values over lines; the API server's decoder skips line breaks,
  // the schema's "byte" format does not.
  for (const o of objects) {
    if (o.kind === 'Secret')
      for (const [k, v] of Object.entries((o as SecretObject).data ?? {})) (o as SecretObject).data![k] = v.replace(/\s+/g, '');
  }
  return objects;
}

function find(kind: string, name: string): K8sObject {
  const found = resources.find((r) => r.kind === kind && r.metadata.name === name);
  expect(found, `${kind} ${name}`).toBeDefined();
  return found!;
}

function secretValue(name: string, key: string): string {
  const data = (find('Secret', name) as SecretObject).data ?? {};
  expect(data[key], `Secret ${name} has no key ${key}`).toBeDefined();
  return Buffer.from(data[key]!, 'base64').toString('utf8');
}

/** The environment a container starts with, secrets resolved and mounted files made local. */
function environmentOf(deployment: IDeployment, container: IContainer, files: string): Record<string, string> {
  const pod = deployment.spec!.template.spec!;
  const localPaths = new Map<string, string>();
  for (const mount of container.volumeMounts ?? []) {
    const volume = pod.volumes?.find((v) => v.name === mount.name);
    if (!volume?.secret) continue;
    for (const item of volume.secret.items ?? []) {
      const local = path.join(files, deployment.metadata!.name!, item.path);
      mkdirSync(path.dirname(local), { recursive: true });
      writeFileSync(local, secretValue(volume.secret.secretName!, item.key));
      localPaths.set(path.posix.join(mount.mountPath, item.path), local);
    }
  }
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    let value: string;
    if (variable.value !== undefined) value = variable.value;
    else if (variable.valueFrom?.secretKeyRef)
      value = secretValue(variable.valueFrom.secretKeyRef.name!, variable.valueFrom.secretKeyRef.key);
    else if (variable.valueFrom?.fieldRef) value = `${deployment.metadata!.name}-7d9f8c6b5-x2x4q`;
    else throw new Error(`${container.name}: ${variable.name} has a source this check does not know`);
    env[variable.name] = localPaths.get(value) ?? value;
  }
  return env;
}

function envNamesOf(schema: z.ZodType): string[] {
  const object = schema instanceof z.ZodPipe ? schema.in : schema;
  expect(object).toBeInstanceOf(z.ZodObject);
  return Object.keys((object as z.ZodObject).shape);
}

/**
 * Fields the Kubernetes API does not know: each object is type-checked as an object literal of
 * its kubernetes-models type, so TypeScript names every excess (misspelt, misplaced) property.
 */
function unknownFieldErrors(objects: Array<{ label: string; module: string; type: string; value: unknown }>): string[] {
  const files = new Map(
    objects.map((o, i) => [
      path.join(root, 'tests', `__k8s_object_${i}.ts`),
      `import type { ${o.type} } from '${o.module}';\nexport const object: ${o.type} = ${JSON.stringify(o.value, null, 2)};\n`,
    ]),
  );
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    lib: ['lib.es5.d.ts'],
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    files.has(name) ? ts.createSourceFile(name, files.get(name)!, version) : getSourceFile(name, version, ...rest);
  host.fileExists = (name) => files.has(name) || fileExists(name);
  host.readFile = (name) => files.get(name) ?? readFile(name);
  const program = ts.createProgram([...files.keys()], options, host);
  const labels = [...files.keys()];
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const at = d.file ? labels.indexOf(d.file.fileName) : -1;
    const where = at >= 0 ? objects[at]!.label : (d.file?.fileName ?? 'compiler');
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

/** The kubernetes-models module and type of an object: `apps/v1` + `Deployment`. */
function modelOf(apiVersion: string, kind: string): { module: string; type: string; validate: (value: unknown) => void } {
  const module = `kubernetes-models/${apiVersion}`;
  const models = require(module) as Record<string, new (data: unknown) => { validate(): void }>;
  const Model = models[kind];
  expect(Model, `kubernetes-models has no ${apiVersion} ${kind}`).toBeDefined();
  return { module: `${module}/${kind}`, type: `I${kind}`, validate: (value) => new Model!(value).validate() };
}

function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

function probesOf(container: IContainer): Array<[string, IProbe]> {
  return (['startupProbe', 'readinessProbe', 'livenessProbe'] as const).flatMap((p) =>
    container[p] ? [[p, container[p]] as [string, IProbe]] : [],
  );
}

/** The NATS chart's values (infra/k8s/nats/values.yaml). */
interface NatsValues {
  fullnameOverride: string;
  config: {
    cluster: { enabled: boolean; replicas: number };
    jetstream: {
      enabled: boolean;
      fileStore: { enabled: boolean; pvc: { enabled: boolean; size: string } };
      memoryStore: { enabled: boolean };
    };
    merge: Record<string, unknown>;
  };
  container: { env: Record<string, string | { valueFrom: { secretKeyRef: { name: string; key: string } } }>; merge: Partial<IContainer> };
  podTemplate: { topologySpreadConstraints: Record<string, Record<string, unknown>> };
}
const natsValues = parse(readFileSync(path.join(k8sDir, 'nats/values.yaml'), 'utf8')) as NatsValues;
/** The chart's labels on its NATS pods, for release "nats". */
const natsPodLabels = { 'app.kubernetes.io/name': 'nats', 'app.kubernetes.io/instance': 'nats', 'app.kubernetes.io/component': 'nats' };

beforeAll(() => {
  workdir = mkdtempSync(path.join(os.tmpdir(), 'siteflow-k8s-'));
  const tree = path.join(workdir, 'k8s');
  const secretsDir = path.join(k8sDir, 'overlays/production/secrets');
  // Secrets an operator wrote into the working tree stay out: the copy gets fresh ones.
  cpSync(k8sDir, tree, { recursive: true, filter: (src) => path.dirname(src) !== secretsDir || src.endsWith('.gitignore') });
  const written = spawnSync('sh', [path.join(tree, 'write-secrets.sh'), 'pg.test:5432', 'siteflow', 'sslmode=disable'], {
    encoding: 'utf8',
  });
  expect(written.status, written.stderr).toBe(0);
  resources = render(path.join(tree, 'overlays/production'));
  deployments = resources
    .filter((r) => r.kind === 'Deployment')
    .map((r) => {
      const deployment = r as unknown as IDeployment;
      const containers = deployment.spec!.template.spec!.containers;
      expect(containers, r.metadata.name).toHaveLength(1);
      const container = containers[0]!;
      // The image decides what runs (infra/docker/Dockerfile, SERVICE).
      const process = /siteflow-collab\/([a-z]+)(?::|$)/.exec(container.image ?? '')?.[1] as Process | undefined;
      expect(PROCESSES, `${r.metadata.name} runs ${container.image}`).toContain(process);
      return { process: process!, deployment, container };
    });
}, 60_000);

afterAll(() => {
  if (workdir) rmSync(workdir, { recursive: true, force: true });
});

describe('infra/k8s, the production overlay', () => {
  it('has a Deployment, a PodDisruptionBudget and a HorizontalPodAutoscaler for each process, all in one namespace', () => {
    expect(deployments.map((d) => d.process).sort()).toEqual([...PROCESSES].sort());
    for (const r of resources) if (r.kind !== 'Namespace') expect(r.metadata.namespace, `${r.kind} ${r.metadata.name}`).toBe('siteflow');
  });

  it('is valid against the Kubernetes API schemas, with no field the API does not know', () => {
    const objects = resources.map((r) => ({ label: `${r.kind} ${r.metadata.name}`, value: r, ...modelOf(r.apiVersion, r.kind) }));
    const schemaErrors = objects.flatMap((o) => {
      try {
        o.validate(o.value);
        return [];
      } catch (err) {
        return [`${o.label}: ${(err as Error).message}`];
      }
    });
    expect(schemaErrors).toEqual([]);
    expect(unknownFieldErrors(objects)).toEqual([]);
  }, 60_000);

  it('sets only variables each process reads, and each process accepts its whole environment', () => {
    const files = path.join(workdir, 'mounted');
    for (const { process, deployment, container } of deployments) {
      const schema = CONFIG_SCHEMAS[process];
      // NODE_OPTIONS is read by Node itself (the V8 heap flags), not by the process's config.
      const known = [...envNamesOf(schema), 'NODE_OPTIONS'];
      const set = (container.env ?? []).map((e) => e.name);
      expect(
        set.filter((name) => !known.includes(name)),
        `${process}: variables its config schema does not have`,
      ).toEqual([]);
      // envFrom would set variables nobody named here.
      expect(container.envFrom, process).toBeUndefined();
      const parsed = schema.safeParse(environmentOf(deployment, container, files));
      expect(parsed.success, `${process}: ${parsed.success ? '' : describeIssues(parsed.error)}`).toBe(true);
    }
  }, 30_000);

  it("gives each process its own NATS user (infra/nats/auth.conf) with that user's password, and each service its own Postgres role", () => {
    const files = path.join(workdir, 'mounted');
    for (const { process, deployment, container } of deployments) {
      const env = environmentOf(deployment, container, files);
      const url = new URL(env.NATS_URL!);
      expect(url.username, process).toBe(process);
      expect(`${url.hostname}:${url.port}`, process).toBe(`${natsValues.fullnameOverride}:4222`);
      expect(url.password, `${process}: its password is the NATS server's NATS_${process.toUpperCase()}_PASSWORD`).toBe(
        secretValue('nats-users', `NATS_${process.toUpperCase()}_PASSWORD`),
      );
      if (process === 'gateway') expect(env.DATABASE_URL, 'the gateway has no database').toBeUndefined();
      else expect(new URL(env.DATABASE_URL!).username, process).toBe(`siteflow_${process}`);
    }
  });

  it("probes only real endpoints: the gateway's routes on its port, the services' shipped readiness check", async () => {
    const gateway = deployments.find((d) => d.process === 'gateway')!;
    const gatewayEnv = environmentOf(gateway.deployment, gateway.container, path.join(workdir, 'mounted'));
    const routes = Fastify();
    registerRoutes(routes, { config: GatewayConfig.parse(gatewayEnv), nats: {} as never, tokens: {} as never });
    await routes.ready();
    for (const { process, deployment, container } of deployments) {
      const probes = probesOf(container);
      if (process === 'gateway') {
        expect(probes.map(([p]) => p).sort()).toEqual(['livenessProbe', 'readinessProbe']);
        for (const [name, probe] of probes) {
          const http = probe.httpGet;
          expect(http, `${process} ${name}`).toBeDefined();
          // Unknown GETs get the web app's index.html (200): a misspelt path would always pass.
          expect(routes.hasRoute({ method: 'GET', url: http!.path! }), `${process} ${name}: GET ${http!.path} is no gateway route`).toBe(
            true,
          );
          const port = container.ports?.find((p) => p.name === http!.port || p.containerPort === http!.port);
          expect(port?.containerPort, `${process} ${name}: port ${http!.port}`).toBe(Number(gatewayEnv.PORT ?? 4000));
        }
        expect(gateway.container.livenessProbe?.httpGet?.path).toBe('/healthz');
        expect(gateway.container.readinessProbe?.httpGet?.path).toBe('/readyz');
        continue;
      }
      // Services have no HTTP listener (yet): the readiness check is the shipped script, run with
      // the port of their NATS_URL, from a volume that holds it.
      expect(
        probes.map(([p]) => p),
        process,
      ).toEqual(['readinessProbe']);
      const command = container.readinessProbe!.exec?.command ?? [];
      expect(command.slice(0, 2), process).toEqual(['node', '/etc/siteflow/probes/nats-connected.cjs']);
      const natsPort = new URL(secretValue(container.env!.find((e) => e.name === 'NATS_URL')!.valueFrom!.secretKeyRef!.name!, 'NATS_URL'))
        .port;
      expect(command.slice(2), process).toEqual([natsPort, '2']);
      const mount = container.volumeMounts?.find((m) => m.mountPath === '/etc/siteflow/probes');
      const volume = deployment.spec!.template.spec!.volumes?.find((v) => v.name === mount?.name);
      const configMap = find('ConfigMap', volume!.configMap!.name!) as K8sObject & { data: Record<string, string> };
      expect(configMap.data['nats-connected.cjs'], process).toBe(readFileSync(path.join(k8sDir, 'base/probes/nats-connected.cjs'), 'utf8'));
    }
  }, 30_000);

  it('gives each process a termination grace period that covers its drain, and no more than a little beyond', () => {
    for (const { process, deployment, container } of deployments) {
      const grace = deployment.spec!.template.spec!.terminationGracePeriodSeconds!;
      const preStop = container.lifecycle?.preStop?.exec?.command;
      const preStopS = preStop?.[0] === 'sleep' ? Number(preStop[1]) : 0;
      let drainS: number;
      if (process === 'gateway') {
        // Sockets keep arriving until the load balancer has seen the pod go: the preStop pause.
        expect(preStopS, 'gateway preStop sleep').toBeGreaterThanOrEqual(5);
        drainS = preStopS + DRAIN.gatewayUntrackS + DRAIN.wsCloseHandshakeS;
      } else {
        const env = Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
        const config = BaseServiceConfig.pick({ SHUTDOWN_TIMEOUT_MS: true }).parse(env);
        drainS = preStopS + config.SHUTDOWN_TIMEOUT_MS / 1000 + DRAIN.relayFlushS;
      }
      expect(grace, `${process}: drain takes up to ${drainS} s`).toBeGreaterThanOrEqual(drainS);
      expect(grace, `${process}: drain takes up to ${drainS} s`).toBeLessThanOrEqual(drainS + DRAIN.slackS);
    }
  });

  it('requests CPU and memory and limits memory for every container (autoscaling on utilisation needs requests)', () => {
    for (const { process, container } of deployments) {
      expect(container.resources?.requests?.cpu, process).toBeDefined();
      expect(container.resources?.requests?.memory, process).toBeDefined();
      expect(container.resources?.limits?.memory, process).toBeDefined();
    }
  });

  it("sizes each process's V8 heap from its memory limit: old generation half the limit, the whole heap within 60 % of it, flags Node accepts", () => {
    const mebibytes = (quantity: string) => {
      const m = /^(\d+)(Mi|Gi)$/.exec(quantity);
      expect(m, `memory limit ${quantity}: Mi or Gi`).not.toBeNull();
      return Number(m![1]) * (m![2] === 'Gi' ? 1024 : 1);
    };
    for (const { process, container } of deployments) {
      const limit = mebibytes(String(container.resources!.limits!.memory));
      const options = container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
      const flag = (name: string) => Number(new RegExp(`(?:^|\\s)--${name}=(\\d+)(?:\\s|$)`).exec(options)?.[1]);
      const oldSpace = flag('max-old-space-size');
      const semiSpace = flag('max-semi-space-size');
      expect(oldSpace, `${process}: NODE_OPTIONS --max-old-space-size, half its ${limit} MiB limit`).toBe(limit / 2);
      expect(semiSpace, `${process}: NODE_OPTIONS --max-semi-space-size`).toBeGreaterThan(0);
      expect(oldSpace + 3 * semiSpace, `${process}: old generation + 3 semi-spaces`).toBeLessThanOrEqual(limit * 0.6);
      // Node refuses some V8 flags in NODE_OPTIONS; these it must take, and V8 must apply them.
      const node = spawnSync(globalThis.process.execPath, ['-p', 'require("node:v8").getHeapStatistics().heap_size_limit'], {
        encoding: 'utf8',
        env: { ...globalThis.process.env, NODE_OPTIONS: options },
      });
      expect(node.status, `${process}: ${node.stderr}`).toBe(0);
      expect(Number(node.stdout.trim()) / 2 ** 20, process).toBe(oldSpace + 3 * semiSpace);
    }
  }, 30_000);

  it('autoscales the gateway on CPU and memory (its sockets) and the services on CPU, never below two, and lets one pod at a time be disrupted', () => {
    const hpas = resources.filter((r) => r.kind === 'HorizontalPodAutoscaler') as unknown as IHorizontalPodAutoscaler[];
    const pdbs = resources.filter((r) => r.kind === 'PodDisruptionBudget') as unknown as IPodDisruptionBudget[];
    for (const { process, deployment } of deployments) {
      const name = deployment.metadata!.name!;
      const podLabels = deployment.spec!.template.metadata!.labels!;
      const hpa = hpas.filter((h) => h.spec!.scaleTargetRef.kind === 'Deployment' && h.spec!.scaleTargetRef.name === name);
      expect(hpa, process).toHaveLength(1);
      expect(hpa[0]!.spec!.minReplicas, process).toBeGreaterThanOrEqual(2);
      // A count in the Deployment would be put back by every `kubectl apply`, under the autoscaler.
      expect(deployment.spec!.replicas, `${process}: replicas set beside its autoscaler`).toBeUndefined();
      const signals = (hpa[0]!.spec!.metrics ?? []).map((m) => m.resource?.name).sort();
      expect(signals, process).toEqual(process === 'gateway' ? ['cpu', 'memory'] : ['cpu']);
      const pdb = pdbs.filter((p) => labelsMatch(p.spec!.selector!.matchLabels, podLabels));
      expect(pdb, process).toHaveLength(1);
      expect(pdb[0]!.spec!.maxUnavailable, process).toBe(1);
    }
  });

  it('denies all traffic but what each process needs: DNS, NATS, Postgres for services, port 4000 into the gateway, metrics scrapes into services', () => {
    const policies = resources.filter((r) => r.kind === 'NetworkPolicy') as unknown as INetworkPolicy[];
    const selecting = (labels: Record<string, string>) => policies.filter((p) => labelsMatch(p.spec!.podSelector.matchLabels, labels));
    const denyAll = policies.find((p) => Object.keys(p.spec!.podSelector).length === 0 && !p.spec!.ingress && !p.spec!.egress);
    expect(denyAll?.spec?.policyTypes?.sort()).toEqual(['Egress', 'Ingress']);

    for (const { process, deployment, container } of deployments) {
      const labels = deployment.spec!.template.metadata!.labels!;
      const egressPorts = selecting(labels).flatMap((p) =>
        (p.spec!.egress ?? []).flatMap((rule) => (rule.ports ?? []).map((port) => port.port)),
      );
      const ingressPorts = selecting(labels).flatMap((p) =>
        (p.spec!.ingress ?? []).flatMap((rule) => (rule.ports ?? []).map((port) => port.port)),
      );
      expect(new Set(egressPorts), process).toEqual(new Set(process === 'gateway' ? [53, 4222] : [53, 4222, 5432]));
      // Ingress exactly on the ports the container serves: the gateway's HTTP, a service's metrics.
      expect(new Set(ingressPorts), process).toEqual(new Set(container.ports!.map((p) => p.containerPort)));
      // NATS admits this process's pods on its client port.
      const natsAdmits = selecting(natsPodLabels).some((p) =>
        (p.spec!.ingress ?? []).some(
          (rule) =>
            rule.ports?.some((port) => port.port === 4222) &&
            rule.from?.some((peer) => peer.podSelector && labelsMatch(peer.podSelector.matchLabels, labels)),
        ),
      );
      expect(natsAdmits, `NATS admits ${process}`).toBe(true);
    }
  });
});

describe('infra/k8s/nats/values.yaml (the official NATS chart)', () => {
  const authConf = readFileSync(path.join(root, 'infra/nats/auth.conf'), 'utf8');

  it('runs three clustered nodes with JetStream on file storage, spread over machines', () => {
    expect(natsValues.config.cluster).toMatchObject({ enabled: true, replicas: 3 });
    expect(natsValues.config.jetstream).toMatchObject({ enabled: true, fileStore: { enabled: true, pvc: { enabled: true } } });
    expect(Object.keys(natsValues.podTemplate.topologySpreadConstraints)).toEqual(['kubernetes.io/hostname']);
    expect(natsValues.config.merge.max_payload, 'as infra/nats/nats.conf').toBe('<< 4MB >>');
  });

  it('runs the shipped users and permissions: includes auth.conf and gives the server every password it reads, from the rendered Secret', () => {
    expect(
      Object.entries(natsValues.config.merge)
        .filter(([k]) => k.endsWith('$include'))
        .map(([, v]) => v),
    ).toEqual(['auth.conf']);
    const read = [...authConf.matchAll(/password: \$(NATS_[A-Z]+_PASSWORD)\b/g)].map((m) => m[1]!);
    expect(read.sort()).toEqual(['admin', ...PROCESSES].map((u) => `NATS_${u.toUpperCase()}_PASSWORD`).sort());
    for (const variable of read) {
      const source = natsValues.container.env[variable];
      expect(typeof source === 'object' && source.valueFrom.secretKeyRef, variable).toBeTruthy();
      if (typeof source === 'object')
        expect(secretValue(source.valueFrom.secretKeyRef.name, source.valueFrom.secretKeyRef.key), variable).toMatch(
          /^[A-Za-z][A-Za-z0-9]+$/,
        );
    }
  });

  it("merges into the chart's NATS container only what the Kubernetes API accepts", () => {
    const env = Object.entries(natsValues.container.env).map(([name, v]) => (typeof v === 'string' ? { name, value: v } : { name, ...v }));
    const pod: IPod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'nats-0', labels: natsPodLabels },
      spec: {
        containers: [{ name: 'nats', image: 'nats', env, ...natsValues.container.merge }],
        topologySpreadConstraints: Object.entries(natsValues.podTemplate.topologySpreadConstraints).map(([topologyKey, c]) => ({
          topologyKey,
          labelSelector: { matchLabels: natsPodLabels },
          ...c,
        })) as unknown as NonNullable<IPod['spec']>['topologySpreadConstraints'],
      },
    };
    const model = modelOf('v1', 'Pod');
    model.validate(pod);
    expect(unknownFieldErrors([{ label: 'NATS pod', value: pod, ...model }])).toEqual([]);
  }, 60_000);
});

describe("the services' readiness check (infra/k8s/base/probes/nats-connected.cjs, also compose's health check)", () => {
  const script = path.join(k8sDir, 'base/probes/nats-connected.cjs');

  it("passes when the process holds as many established connections to the port as asked, and fails with fewer or with another process's", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const clients: Socket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const client = connect(port, '127.0.0.1');
        await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
        clients.push(client);
      }
      // The sockets of this process (the accepted ends are in it too, but not connected to the port).
      const run = (wanted: number, pid = process.pid) =>
        spawnSync(process.execPath, [script, String(port), String(wanted), String(pid)], { encoding: 'utf8' });
      const enough = run(2);
      expect(enough.status, enough.stderr).toBe(0);
      const short = run(3);
      expect(short.status).toBe(1);
      expect(short.stderr).toContain(`2 of 3 NATS connections established (port ${port}, pid ${process.pid})`);
      // Another process's connections do not count: one that holds none fails.
      const idle = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      try {
        const other = run(1, idle.pid);
        expect(other.status).toBe(1);
        expect(other.stderr).toContain(`0 of 1 NATS connections established (port ${port}, pid ${idle.pid})`);
      } finally {
        idle.kill('SIGKILL');
      }
    } finally {
      for (const c of clients) c.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 30_000);

  it("is what docker compose runs as each service's health check", () => {
    const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { healthcheck?: { test?: string[] }; volumes?: string[]; deploy?: { replicas?: number } }>;
    };
    for (const name of SERVICES) {
      const service = compose.services[name]!;
      expect(service.volumes, name).toContain('./infra/k8s/base/probes:/etc/siteflow/probes:ro');
      expect(service.healthcheck?.test, name).toEqual(['CMD', 'node', '/etc/siteflow/probes/nats-connected.cjs', '4222', '2']);
      expect(service.deploy?.replicas, name).toBeGreaterThanOrEqual(2);
    }
  });
});
