// Resolves configuration once: defaults < config file (--config) < GREENSERVE_* env
// < CLI flags < library options. Every value is validated against its entry in settings.ts, the result is deep-frozen and
// passed down; nothing else reads process.env or argv. Unknown keys are errors that name the key
// and the closest valid one. Every error is a ConfigError with a one-line message.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { KindGuard, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigError } from '../errors.js';
import {
  CLI_ACTIONS, SETTINGS, SETTING_BY_KEY, describeAllowed, splitAppSpec,
  type AnySetting, type SettingValues, type SizeSettingKey,
} from './settings.js';

export { parseBind, splitAppSpec, type BindAddress } from './settings.js';

type DeepReadonly<T> = T extends readonly (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** The resolved configuration: every setting, with `app` split into the module and its export. */
export type Config = { readonly [K in keyof SettingValues]: DeepReadonly<SettingValues[K]> } & {
  /** the export named after `:` in APP, or null for the default export */
  readonly appExport: string | null;
};

/**
 * Options for a library call, or the settings of a config file: any subset of the settings. One
 * rule for both (settingValue): `app` may be a URL, a byte size a string with a unit (`'10mb'`),
 * a list a single string (`bind: '127.0.0.1:8000'`).
 */
export type ConfigOptions = {
  [K in keyof SettingValues]?: K extends 'app'
    ? string | URL
    : K extends SizeSettingKey
      ? number | string
      : SettingValues[K] extends readonly string[] ? string | readonly string[] : DeepReadonly<SettingValues[K]>;
};

export interface ResolveInput {
  /** the settings of a config file (`loadConfigFile`), below env and CLI */
  file?: ConfigFile;
  /** `parseArgv(argv).options` */
  cli?: Readonly<Record<string, unknown>>;
  /** defaults to process.env; only `GREENSERVE_*` names are read */
  env?: Readonly<Record<string, string | undefined>>;
  options?: ConfigOptions;
}

export interface ParsedArgv {
  /** setting key → the string given (string[] for repeatable flags, boolean for switches) */
  options: Record<string, string | string[] | boolean>;
  help: boolean;
  version: boolean;
  checkConfig: boolean;
  printConfig: boolean;
}

/** A loaded config file: its path (for messages) and the settings object it holds. */
export interface ConfigFile {
  readonly path: string;
  readonly settings: Readonly<Record<string, unknown>>;
}

type Action = (typeof CLI_ACTIONS)[number]['name'];

const ENV_PREFIX = 'GREENSERVE_';
const ENV_BY_NAME: ReadonlyMap<string, AnySetting> = new Map(SETTINGS.map((s) => [s.env, s]));

// ---------------------------------------------------------------------------------------------
// argv

interface FlagTarget {
  readonly spec: AnySetting | null;
  readonly action: Action | null;
  readonly negated: boolean;
}

const FLAGS: ReadonlyMap<string, FlagTarget> = buildFlagMap();

function buildFlagMap(): Map<string, FlagTarget> {
  const map = new Map<string, FlagTarget>();
  for (const a of CLI_ACTIONS) {
    for (const f of [a.flag, a.short]) if (f !== null) map.set(f, { spec: null, action: a.name, negated: false });
  }
  for (const spec of SETTINGS as readonly AnySetting[]) {
    if (spec.flag === null) continue;
    const target: FlagTarget = { spec, action: null, negated: false };
    map.set(spec.flag, target);
    if (spec.short !== undefined) map.set(spec.short, target);
    if (KindGuard.IsBoolean(spec.schema)) map.set(`--no-${spec.flag.slice(2)}`, { ...target, negated: true });
  }
  return map;
}

/** Parses command-line arguments (without `node` and the script) into raw setting values. */
export function parseArgv(argv: readonly string[]): ParsedArgv {
  const out: ParsedArgv = { options: {}, help: false, version: false, checkConfig: false, printConfig: false };
  let i = 0;
  let onlyPositionals = false;
  while (i < argv.length) {
    const arg = argv[i++] as string;
    if (onlyPositionals || !isFlagLike(arg)) {
      addPositional(out, arg);
    } else if (arg === '--') {
      onlyPositionals = true;
    } else {
      const { name, inline } = splitFlag(arg);
      const target = FLAGS.get(name);
      if (target === undefined) throw unknownKey(arg.split('=')[0] as string, [...FLAGS.keys()], 'option');
      const value = target.spec === null || isSwitch(target) ? inline : inline ?? takeValue(argv, i++, name);
      applyFlag(out, name, target, value);
    }
  }
  return out;
}

function isFlagLike(arg: string): boolean {
  return arg.length > 1 && arg.startsWith('-');
}

function isSwitch(target: FlagTarget): boolean {
  return target.spec !== null && KindGuard.IsBoolean(target.spec.schema);
}

/** `--x=v` → (`--x`, `v`); `-t4` and `-t=4` → (`-t`, `4`); `--x` → (`--x`, undefined). */
function splitFlag(arg: string): { name: string; inline: string | undefined } {
  if (arg.startsWith('--')) {
    const eq = arg.indexOf('=');
    return eq < 0 ? { name: arg, inline: undefined } : { name: arg.slice(0, eq), inline: arg.slice(eq + 1) };
  }
  const long = `-${arg.split('=')[0]}`;
  if (arg.length > 2 && FLAGS.has(long)) throw new ConfigError(arg, `unknown option; did you mean ${long}?`);
  if (arg.length === 2) return { name: arg, inline: undefined };
  return { name: arg.slice(0, 2), inline: arg.slice(arg[2] === '=' ? 3 : 2) };
}

function takeValue(argv: readonly string[], at: number, name: string): string {
  const next = argv[at];
  if (next === undefined || (isFlagLike(next) && !/^-[\d.]/.test(next))) {
    throw new ConfigError(FLAGS.get(name)?.spec?.key ?? name, 'needs a value', name);
  }
  return next;
}

function applyFlag(out: ParsedArgv, name: string, target: FlagTarget, value: string | undefined): void {
  if (target.action !== null) {
    if (value !== undefined) throw new ConfigError(name, 'takes no value', name);
    out[target.action] = true;
    return;
  }
  const spec = target.spec as AnySetting;
  if (isSwitch(target)) {
    if (target.negated && value !== undefined) throw new ConfigError(spec.key, 'takes no value', name);
    out.options[spec.key] = value ?? !target.negated;
  } else if (KindGuard.IsArray(spec.schema)) {
    const list = out.options[spec.key];
    out.options[spec.key] = Array.isArray(list) ? [...list, value as string] : [value as string];
  } else {
    out.options[spec.key] = value as string; // given twice: the last one wins, as with argparse
  }
}

function addPositional(out: ParsedArgv, arg: string): void {
  const app = out.options['app'];
  if (app !== undefined) {
    const problem = `only one APP may be given (got ${JSON.stringify(arg)} after ${JSON.stringify(app)})`;
    throw new ConfigError('app', problem, 'APP');
  }
  out.options['app'] = arg;
}

// ---------------------------------------------------------------------------------------------
// resolve

/** Resolves, validates and deep-freezes the configuration. Throws ConfigError. */
export function resolveConfig(input: ResolveInput = {}): Config {
  const values = new Map<string, unknown>();
  for (const spec of SETTINGS as readonly AnySetting[]) {
    if (spec.schema.default !== undefined) values.set(spec.key, structuredClone(spec.schema.default));
  }
  if (input.file !== undefined) for (const [spec, value] of fromFile(input.file)) values.set(spec.key, value);
  for (const [spec, value] of fromEnv(input.env ?? process.env)) values.set(spec.key, value);
  for (const [spec, value] of fromCli(input.cli ?? {})) values.set(spec.key, value);
  for (const [spec, value] of fromOptions(input.options ?? {})) values.set(spec.key, value);
  return finish(values);
}

type Found = Array<[AnySetting, unknown]>;

function fromEnv(env: Readonly<Record<string, string | undefined>>): Found {
  const found: Found = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined || raw === '') continue; // empty means unset
    const spec = ENV_BY_NAME.get(name);
    if (spec === undefined) throw unknownKey(name, [...ENV_BY_NAME.keys()], 'environment variable');
    found.push([spec, checked(spec, fromString(spec, raw, true), name, raw)]);
  }
  return found;
}

function fromCli(cli: Readonly<Record<string, unknown>>): Found {
  const found: Found = [];
  for (const [key, raw] of Object.entries(cli)) {
    const spec = SETTING_BY_KEY.get(key);
    if (spec === undefined) throw unknownKey(key, [...SETTING_BY_KEY.keys()], 'option');
    const value = typeof raw === 'string' ? fromString(spec, raw, false) : raw;
    found.push([spec, checked(spec, value, spec.flag ?? spec.metavar, raw)]);
  }
  return found;
}

function fromFile(file: ConfigFile): Found {
  const found: Found = [];
  for (const [key, raw] of Object.entries(file.settings)) {
    const label = `${file.path}: ${key}`;
    const spec = SETTING_BY_KEY.get(key);
    if (spec === undefined) {
      throw new ConfigError(key, `unknown setting${suggestion(key, [...SETTING_BY_KEY.keys()], 'docs/settings.md lists them')}`, label);
    }
    if (spec.key === 'config') throw new ConfigError('config', 'cannot be set in a config file', label);
    found.push([spec, checked(spec, settingValue(spec, raw), label, raw)]);
  }
  return found;
}

/**
 * Reads a config file: a `.json` object, or the default export (an object) of a `.mjs`/`.js`/`.cjs`
 * module. Throws ConfigError naming the file when it cannot be read or holds no settings object.
 */
export async function loadConfigFile(file: string): Promise<ConfigFile> {
  const problem = SETTING_BY_KEY.get('config')?.check?.(file) ?? null;
  if (problem !== null) throw new ConfigError('config', `${problem} (got ${shown(file)})`, '--config');
  const abs = path.resolve(file);
  let settings: unknown;
  try {
    if (abs.endsWith('.json')) settings = JSON.parse(readFileSync(abs, 'utf8'));
    else settings = ((await import(pathToFileURL(abs).href)) as { default?: unknown }).default;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError('config', `cannot load ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, '--config');
  }
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    const what = abs.endsWith('.json') ? 'a JSON object' : 'a default export that is an object of settings';
    throw new ConfigError('config', `${file} must hold ${what}`, '--config');
  }
  return { path: file, settings: settings as Record<string, unknown> };
}

/** The config file named by the CLI options or the environment, or null. */
export function configFileOf(cli: Readonly<Record<string, unknown>>, env: Readonly<Record<string, string | undefined>>): string | null {
  const fromCli = cli['config'];
  if (typeof fromCli === 'string' && fromCli !== '') return fromCli;
  const fromEnv = env['GREENSERVE_CONFIG'];
  return fromEnv === undefined || fromEnv === '' ? null : fromEnv;
}

function fromOptions(options: Readonly<Record<string, unknown>>): Found {
  const found: Found = [];
  for (const [key, raw] of Object.entries(options)) {
    if (raw === undefined) continue;
    const spec = SETTING_BY_KEY.get(key);
    if (spec === undefined) throw unknownKey(key, [...SETTING_BY_KEY.keys()], 'option');
    found.push([spec, checked(spec, settingValue(spec, raw), key, raw)]);
  }
  return found;
}

function finish(values: Map<string, unknown>): Config {
  for (const spec of SETTINGS as readonly AnySetting[]) {
    if (!values.has(spec.key)) {
      throw new ConfigError(spec.key, `required; must be ${describeAllowed(spec)}`, spec.flag ?? spec.metavar);
    }
  }
  const { app, appExport } = splitAppSpec(values.get('app') as string);
  const config = { ...Object.fromEntries(values), app, appExport };
  // Each value was checked against its schema above, so the object has Config's shape.
  return deepFreeze(config) as unknown as Config;
}

// ---------------------------------------------------------------------------------------------
// values from strings, and validation

/** A value that could not be read from its string; validation reports it with the raw input. */
const INVALID: unique symbol = Symbol('invalid');

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)$/;
const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]?b?)$/i;
const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1, b: 1, k: 2 ** 10, kb: 2 ** 10, m: 2 ** 20, mb: 2 ** 20, g: 2 ** 30, gb: 2 ** 30, t: 2 ** 40, tb: 2 ** 40,
};
const BOOLEANS: ReadonlyMap<string, boolean> = new Map([
  ['true', true], ['1', true], ['yes', true], ['on', true],
  ['false', false], ['0', false], ['no', false], ['off', false],
]);

/** A byte size: `4096`, `64kb`, `1.5mb`, `1m` (units are powers of 1024). */
function parseSize(raw: string): number | typeof INVALID {
  const m = SIZE.exec(raw.trim());
  if (m === null) return INVALID;
  const n = Number(m[1]) * (SIZE_UNITS[(m[2] as string).toLowerCase()] as number);
  return Number.isInteger(n) ? n : INVALID;
}

/**
 * A library option's or a config file's value as the setting's type; one rule for both (and
 * ConfigOptions types it): the entry's own mapping (a URL for `app`), a single string for a
 * list, a string with a unit for a byte size (`'10mb'`).
 */
function settingValue(spec: AnySetting, raw: unknown): unknown {
  const mapped = spec.fromOption === undefined ? raw : spec.fromOption(raw);
  if (typeof mapped !== 'string') return mapped;
  if (KindGuard.IsArray(spec.schema)) return [mapped];
  return spec.size === true ? parseSize(mapped) : mapped;
}

/** Reads a CLI or env string as the setting's type; lists split on commas where `splitLists`. */
function fromString(spec: AnySetting, raw: string, splitLists: boolean): unknown {
  const s = spec.schema;
  if (KindGuard.IsArray(s)) {
    return splitLists ? raw.split(',').map((x) => x.trim()).filter((x) => x !== '') : [raw];
  }
  if (spec.size === true) return parseSize(raw);
  if (KindGuard.IsInteger(s)) return INTEGER.test(raw) ? Number(raw) : INVALID;
  if (KindGuard.IsNumber(s)) return DECIMAL.test(raw) ? Number(raw) : INVALID;
  if (KindGuard.IsBoolean(s)) return BOOLEANS.get(raw.toLowerCase()) ?? INVALID;
  return raw;
}

/** Returns `value` if it is valid for `spec`; otherwise throws naming `label` and showing `raw`. */
function checked(spec: AnySetting, value: unknown, label: string, raw: unknown): unknown {
  if (KindGuard.IsArray(spec.schema)) return checkedList(spec, spec.schema.items, value, label);
  if (value === INVALID || !Value.Check(spec.schema, value)) throw mustBe(spec, '', label, raw);
  checkCustom(spec, value, label);
  return value;
}

function checkedList(spec: AnySetting, items: TSchema, value: unknown, label: string): unknown {
  if (!Array.isArray(value)) throw mustBe(spec, 'a list of ', label, value);
  for (const item of value) {
    if (!Value.Check(items, item)) throw mustBe(spec, '', label, item);
    checkCustom(spec, item, label);
  }
  if (!Value.Check(spec.schema, value)) throw mustBe(spec, 'a list of at least one ', label, value);
  return [...value];
}

function checkCustom(spec: AnySetting, value: unknown, label: string): void {
  const problem = spec.check === undefined ? null : spec.check(value);
  if (problem !== null) throw new ConfigError(spec.key, `${problem} (got ${shown(value)})`, label);
}

function mustBe(spec: AnySetting, prefix: string, label: string, raw: unknown): ConfigError {
  return new ConfigError(spec.key, `must be ${prefix}${describeAllowed(spec)} (got ${shown(raw)})`, label);
}

/** A value for an error message: quoted, on one line, and short. */
function shown(value: unknown): string {
  let s: string;
  try {
    s = typeof value === 'function' ? 'a function' : JSON.stringify(value) ?? String(value);
  } catch {
    s = Object.prototype.toString.call(value);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

// ---------------------------------------------------------------------------------------------
// unknown names

function unknownKey(name: string, candidates: readonly string[], what: string): ConfigError {
  const list = what === 'option' && name.startsWith('-') ? 'greenserve --help lists them' : 'docs/settings.md lists them';
  return new ConfigError(name, `unknown ${what}${suggestion(name, candidates, list)}`);
}

/** `; did you mean X?` when a candidate is close, else where the valid names are listed. */
function suggestion(name: string, candidates: readonly string[], list: string): string {
  const near = closest(name, candidates);
  return near === null ? ` (${list})` : `; did you mean ${near}?`;
}

/**
 * The candidate nearest to `name` by edit distance, ignoring case, `-`, `_` and a GREENSERVE_
 * prefix; null when none is
 * close: more than two letters, and more than a third of them, differ (`--bogus` is no `--jobs`),
 * and neither starts with the other (`appExport` is close to `app`).
 */
export function closest(name: string, candidates: readonly string[]): string | null {
  // Without the leading dashes or GREENSERVE_ that every candidate of the kind has.
  const fold = (s: string): string => s.replace(/^(?:-+|GREENSERVE_)/i, '').toLowerCase().replace(/[-_]/g, '');
  const folded = fold(name);
  const near = folded.length < 3 ? 0 : Math.max(2, Math.floor(folded.length / 3));
  let best: string | null = null;
  let bestScore = Infinity;
  for (const c of candidates) {
    const f = fold(c);
    const distance = levenshtein(folded, f);
    const prefix = Math.min(f.length, folded.length) >= 3 && (f.startsWith(folded) || folded.startsWith(f));
    if (distance > near && !prefix) continue;
    const score = distance * 1000 + levenshtein(name, c);
    if (score < bestScore) [best, bestScore] = [c, score];
  }
  return best;
}

export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
    }
    prev = row;
  }
  return prev[b.length] as number;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
