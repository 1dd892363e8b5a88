/**
 * Generates the Kafka message codecs in `protocol/kafka/messages/` and the version table in
 * `protocol/kafka/api_keys.ts` from Apache Kafka's own JSON message schemas.
 *
 * Run from the repository root:
 *
 * ```sh
 * deno run -A protocol/kafka/generate.ts [schemaDir]
 * ```
 *
 * `schemaDir` defaults to `../shared/kafka-protocol/message`. The output is committed, so it is
 * deterministic and formatted with `deno fmt`. Generated code reads nothing at run time.
 *
 * Each struct gets an interface, a `create*` factory with the schema defaults, and one encoder
 * and one decoder that branch on the version inline; there are no per-field closures, so the
 * produce-request decode and fetch-response encode stay allocation-light.
 *
 * @module
 */

/** The APIs to generate, by schema name without the Request/Response suffix. */
export const GENERATED_APIS: readonly string[] = [
  "Produce",
  "Fetch",
  "ListOffsets",
  "Metadata",
  "OffsetCommit",
  "OffsetFetch",
  "FindCoordinator",
  "JoinGroup",
  "Heartbeat",
  "LeaveGroup",
  "SyncGroup",
  "DescribeGroups",
  "ListGroups",
  "SaslHandshake",
  "ApiVersions",
  "CreateTopics",
  "DeleteTopics",
  "InitProducerId",
  "OffsetForLeaderEpoch",
  "DescribeConfigs",
  "CreatePartitions",
  "DeleteGroups",
  "AlterConfigs",
  "IncrementalAlterConfigs",
  "DeleteRecords",
  "AddPartitionsToTxn",
  "AddOffsetsToTxn",
  "EndTxn",
  "TxnOffsetCommit",
  "DescribeTransactions",
  "ListTransactions",
  "WriteTxnMarkers",
  "SaslAuthenticate",
  "CreateAcls",
  "DescribeAcls",
  "DeleteAcls",
  "DescribeUserScramCredentials",
  "AlterUserScramCredentials",
];

const MAX_VERSION = 0x7fff;

interface Range {
  min: number;
  max: number;
}

interface RawField {
  name: string;
  type: string;
  versions?: string;
  nullableVersions?: string;
  taggedVersions?: string;
  tag?: number;
  default?: string | number | boolean;
  ignorable?: boolean;
  fields?: RawField[];
  about?: string;
}

interface RawMessage {
  apiKey?: number;
  type: string;
  name: string;
  validVersions: string;
  flexibleVersions: string;
  fields: RawField[];
  commonStructs?: { name: string; versions?: string; fields: RawField[] }[];
}

type Prim =
  | "bool"
  | "int8"
  | "int16"
  | "uint16"
  | "int32"
  | "int64"
  | "float64"
  | "string"
  | "bytes"
  | "records"
  | "uuid";

/**
 * Messages whose RECORDS fields are typed `Records` (bytes or `RecordSlices`): the broker writes
 * a Fetch response's stored batches as slices, with no joining copy. Everywhere else a RECORDS
 * field is plain bytes, which every decoder returns.
 */
const SLICED_RECORDS: ReadonlySet<string> = new Set(["FetchResponse"]);

const PRIMS = new Set<string>([
  "bool",
  "int8",
  "int16",
  "uint16",
  "int32",
  "int64",
  "float64",
  "string",
  "bytes",
  "records",
  "uuid",
]);

interface Field {
  name: string;
  kafkaName: string;
  /** The element type: a primitive or "struct". */
  elem: Prim | "struct";
  isArray: boolean;
  struct: Struct | null;
  versions: Range | null;
  nullable: Range | null;
  tagged: Range | null;
  tag: number;
  defaultRaw: string | undefined;
  /** Whether a non-default value may be dropped silently in versions without the field. */
  ignorable: boolean;
  about: string;
  /** A RECORDS field typed `Records`, so an encoder can write slices (see SLICED_RECORDS). */
  sliced: boolean;
}

interface Struct {
  tsName: string;
  kafkaName: string;
  fields: Field[];
  /** Versions in which this struct can be encoded (hull over its uses). */
  ctx: Range | null;
}

interface Message {
  name: string;
  apiKey: number;
  valid: Range;
  flexible: Range | null;
  root: Struct;
  structs: Struct[];
  file: string;
}

// ---------------------------------------------------------------- parsing

/** Removes `//` comments outside JSON strings. */
export function stripJsonComments(text: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === "\\") out += text[++i] ?? "";
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
      out += "\n";
    } else {
      out += c;
    }
  }
  return out;
}

/** Parses a Kafka version spec ("0+", "3-5", "7", "none"). */
export function parseVersions(spec: string | undefined): Range | null {
  if (spec === undefined || spec === "none" || spec === "") return null;
  if (spec.endsWith("+")) return { min: Number(spec.slice(0, -1)), max: MAX_VERSION };
  const dash = spec.indexOf("-");
  if (dash >= 0) return { min: Number(spec.slice(0, dash)), max: Number(spec.slice(dash + 1)) };
  return { min: Number(spec), max: Number(spec) };
}

function _intersect(a: Range | null, b: Range | null): Range | null {
  if (a === null || b === null) return null;
  const min = Math.max(a.min, b.min);
  const max = Math.min(a.max, b.max);
  return min <= max ? { min, max } : null;
}

function _hull(a: Range | null, b: Range | null): Range | null {
  if (a === null) return b;
  if (b === null) return a;
  return { min: Math.min(a.min, b.min), max: Math.max(a.max, b.max) };
}

function _camel(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}

function _snake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

function _readSchema(dir: string, name: string): RawMessage {
  const text = Deno.readTextFileSync(`${dir}/${name}.json`);
  return JSON.parse(stripJsonComments(text)) as RawMessage;
}

/** Builds the typed model of one message, resolving struct references by name. */
function _buildMessage(raw: RawMessage, file: string): Message {
  const valid = parseVersions(raw.validVersions);
  if (valid === null) throw new Error(`${raw.name}: no valid versions`);
  const rawStructs = new Map<string, RawField[]>();
  for (const cs of raw.commonStructs ?? []) rawStructs.set(cs.name, cs.fields);
  const collect = (fields: RawField[]) => {
    for (const f of fields) {
      if (f.fields !== undefined) {
        rawStructs.set(f.type.replace(/^\[\]/, ""), f.fields);
        collect(f.fields);
      }
    }
  };
  collect(raw.fields);
  for (const cs of raw.commonStructs ?? []) collect(cs.fields);
  const structs = new Map<string, Struct>();
  const getStruct = (kafkaName: string): Struct => {
    let s = structs.get(kafkaName);
    if (s !== undefined) return s;
    const fields = rawStructs.get(kafkaName);
    if (fields === undefined) throw new Error(`${raw.name}: unknown struct ${kafkaName}`);
    const tsName = _tsStructName(raw.name, kafkaName);
    for (const other of structs.values()) {
      if (other.tsName === tsName) throw new Error(`${raw.name}: two structs named ${tsName}`);
    }
    s = { tsName, kafkaName, fields: [], ctx: null };
    structs.set(kafkaName, s);
    s.fields = fields.map(buildField);
    return s;
  };
  const buildField = (f: RawField): Field => {
    const isArray = f.type.startsWith("[]");
    const base = isArray ? f.type.slice(2) : f.type;
    const isPrim = PRIMS.has(base);
    return {
      name: _camel(f.name),
      kafkaName: f.name,
      elem: isPrim ? base as Prim : "struct",
      isArray,
      struct: isPrim ? null : getStruct(base),
      versions: parseVersions(f.versions),
      nullable: parseVersions(f.nullableVersions),
      tagged: parseVersions(f.taggedVersions),
      tag: f.tag ?? -1,
      defaultRaw: f.default === undefined ? undefined : String(f.default),
      ignorable: f.ignorable === true,
      about: f.about ?? "",
      sliced: base === "records" && SLICED_RECORDS.has(raw.name),
    };
  };
  rawStructs.set(raw.name, raw.fields);
  const root = getStruct(raw.name);
  _assignContexts(root, valid);
  return {
    name: raw.name,
    apiKey: raw.apiKey ?? -1,
    valid,
    flexible: _intersect(parseVersions(raw.flexibleVersions), valid),
    root,
    structs: [...structs.values()],
    file,
  };
}

/** "FooRequest" + "FooTopic" gives "FooRequestTopic"; other names get the message prefix. */
function _tsStructName(message: string, struct: string): string {
  if (struct.startsWith(message)) return struct;
  const base = message.replace(/(Request|Response)$/, "");
  if (struct.startsWith(base) && /^[A-Z]/.test(struct.slice(base.length))) {
    return message + struct.slice(base.length);
  }
  return message + struct;
}

function _assignContexts(s: Struct, ctx: Range | null): void {
  const widened = _hull(s.ctx, ctx);
  if (s.ctx !== null && widened!.min === s.ctx.min && widened!.max === s.ctx.max) return;
  s.ctx = widened;
  for (const f of s.fields) {
    if (f.struct !== null) _assignContexts(f.struct, _intersect(f.versions, s.ctx));
  }
}

// ---------------------------------------------------------------- code helpers

/** A condition over `v` that is true inside `range`, given `v` is within `ctx`. */
function _cond(range: Range | null, ctx: Range): string {
  const r = _intersect(range, ctx);
  if (r === null) return "false";
  const parts: string[] = [];
  if (r.min > ctx.min) parts.push(`v >= ${r.min}`);
  if (r.max < ctx.max) parts.push(`v <= ${r.max}`);
  return parts.length === 0 ? "true" : parts.join(" && ");
}

function _isFlexExpr(msg: Message, ctx: Range): string {
  return _cond(msg.flexible, ctx);
}

function _elemTs(f: Field): string {
  switch (f.elem) {
    case "bool":
      return "boolean";
    case "int64":
      return "bigint";
    case "string":
    case "uuid":
      return "string";
    case "bytes":
      return "Uint8Array";
    case "records":
      return f.sliced ? "Records" : "Uint8Array";
    case "struct":
      return f.struct!.tsName;
    default:
      return "number";
  }
}

function _isNullableAnywhere(f: Field, ctx: Range | null): boolean {
  return _intersect(_intersect(f.nullable, f.versions), ctx) !== null;
}

function _fieldTs(f: Field, ctx: Range | null): string {
  const base = f.isArray ? `${_elemTs(f)}[]` : _elemTs(f);
  return _isNullableAnywhere(f, ctx) ? `${base} | null` : base;
}

function _numberDefault(raw: string | undefined): number {
  if (raw === undefined || raw === "") return 0;
  return raw.startsWith("0x") || raw.startsWith("-0x") ? parseInt(raw, 16) : Number(raw);
}

/** The TypeScript expression for a field's default value. */
function _defaultExpr(f: Field, ctx: Range | null): string {
  const raw = f.defaultRaw;
  if (raw === "null" && _isNullableAnywhere(f, ctx)) return "null";
  if (f.isArray) return "[]";
  switch (f.elem) {
    case "bool":
      return raw === "true" ? "true" : "false";
    case "int64":
      return `${BigInt(_numberDefault(raw))}n`;
    case "string":
      return JSON.stringify(raw ?? "");
    case "uuid":
      return "ZERO_UUID";
    case "bytes":
      return "new Uint8Array(0)";
    case "records":
      return _isNullableAnywhere(f, ctx) ? "null" : "new Uint8Array(0)";
    case "struct":
      return `create${f.struct!.tsName}()`;
    default:
      return String(_numberDefault(raw));
  }
}

/** A condition that is true when `x` holds the field's default (decides tagged-field writes). */
function _isDefaultExpr(f: Field, x: string, ctx: Range | null, needed: Set<Struct>): string {
  const def = _defaultExpr(f, ctx);
  const nullable = _isNullableAnywhere(f, ctx);
  if (def === "null") return `${x} === null`;
  if (f.isArray || f.elem === "bytes" || f.elem === "records") {
    return nullable ? `(${x} !== null && ${x}.length === 0)` : `${x}.length === 0`;
  }
  if (f.elem === "struct") {
    needed.add(f.struct!);
    const call = `_isDefault${f.struct!.tsName}(${x})`;
    return nullable ? `(${x} !== null && ${call})` : call;
  }
  return `${x} === ${def}`;
}

function _doc(text: string, indent: string): string {
  const clean = text.replace(/\*\//g, "*\\/").replace(/\s+/g, " ").trim();
  return clean === "" ? "" : `${indent}/** ${clean} */\n`;
}

/** Minimum encoded bytes of a value of field `f` at version `v` (for array-length checks). */
function _minBytes(f: Field, v: number, flex: boolean): number {
  if (f.isArray) return flex ? 1 : 4;
  switch (f.elem) {
    case "bool":
    case "int8":
      return 1;
    case "int16":
    case "uint16":
      return 2;
    case "int32":
      return 4;
    case "int64":
    case "float64":
      return 8;
    case "uuid":
      return 16;
    case "string":
      return flex ? 1 : 2;
    case "bytes":
    case "records":
      return flex ? 1 : 4;
    case "struct":
      if (f.nullable !== null && v >= f.nullable.min && v <= f.nullable.max) return 1;
      return _structMinBytes(f.struct!, v, flex);
  }
}

function _structMinBytes(s: Struct, v: number, flex: boolean): number {
  let n = flex ? 1 : 0;
  for (const f of s.fields) {
    if (f.versions === null || v < f.versions.min || v > f.versions.max) continue;
    if (f.tagged !== null && v >= f.tagged.min && v <= f.tagged.max) continue;
    n += _minBytes(f, v, flex);
  }
  return n;
}

/** The smallest element size of array field `f` over the versions where it exists. */
function _arrayMinElementBytes(msg: Message, f: Field, ctx: Range): number {
  const r = _intersect(f.versions, ctx)!;
  let min = Infinity;
  const elem: Field = { ...f, isArray: false, nullable: null };
  for (let v = r.min; v <= Math.min(r.max, msg.valid.max); v++) {
    const flex = msg.flexible !== null && v >= msg.flexible.min;
    min = Math.min(min, _minBytes(elem, v, flex));
  }
  if (!(min >= 1)) throw new Error(`${msg.name}.${f.kafkaName}: array element may be empty`);
  return min;
}

// ---------------------------------------------------------------- encoders

interface Gen {
  msg: Message;
  /** Structs whose `_isDefault*` helper is needed by a tagged-field write. */
  needed: Set<Struct>;
}

/** How a field is nullable within its versions: never, always, or only under a condition. */
function _nullCond(f: Field, present: Range): string {
  return _cond(f.nullable, present);
}

function _label(g: Gen, f: Field): string {
  return `${g.msg.name}.${f.name}`;
}

/** One statement writing a non-null value `x` of element type `f.elem`. */
function _writeOne(f: Field, x: string, flex: string): string {
  switch (f.elem) {
    case "string":
      return `w.string(${x}, ${flex});`;
    case "bytes":
      return `w.bytes(${x}, ${flex});`;
    case "records":
      return f.sliced ? `w.records(${x}, ${flex});` : `w.bytes(${x}, ${flex});`;
    case "struct":
      return `_encode${f.struct!.tsName}(w, ${x}, v);`;
    default:
      return `w.${f.elem}(${x});`;
  }
}

/** One statement writing a possibly-null value `x`. */
function _writeNullable(f: Field, x: string, flex: string): string {
  switch (f.elem) {
    case "string":
      return `w.nullableString(${x}, ${flex});`;
    case "bytes":
      return `w.nullableBytes(${x}, ${flex});`;
    case "records":
      return f.sliced ? `w.records(${x}, ${flex});` : `w.nullableBytes(${x}, ${flex});`;
    case "struct":
      return `if (${x} === null) w.int8(-1);\nelse {\nw.int8(1);\n_encode${
        f.struct!.tsName
      }(w, ${x}, v);\n}`;
    default:
      throw new Error(`${f.kafkaName}: ${f.elem} cannot be nullable`);
  }
}

/** Statements writing field `f` (value expression `x`) at a version within `present`. */
function _encodeField(g: Gen, f: Field, flex: string, present: Range, ctx: Range): string {
  const x = `m.${f.name}`;
  const nc = _nullCond(f, present);
  const tsNullable = _isNullableAnywhere(f, ctx);
  const nonNull = tsNullable ? `requireNonNull(${x}, "${_label(g, f)}", v)` : x;
  if (f.isArray) {
    const elem: Field = { ...f, isArray: false, nullable: null };
    const each = `for (const e of a) ${_writeOne(elem, "e", flex)}`;
    const init = nc === "true" ? x : nc === "false" ? nonNull : `${nc} ? ${x} : ${nonNull}`;
    if (nc === "false") {
      return `{\nconst a = ${init};\nw.arrayLength(a.length, ${flex});\n${each}\n}`;
    }
    return `{\nconst a = ${init};\nif (a === null) w.arrayLength(-1, ${flex});\nelse {\n` +
      `w.arrayLength(a.length, ${flex});\n${each}\n}\n}`;
  }
  if (nc === "false") return _writeOne(f, nonNull, flex);
  if (nc === "true") return _writeNullable(f, x, flex);
  return `if (${nc}) {\n${_writeNullable(f, x, flex)}\n} else {\n${_writeOne(f, nonNull, flex)}\n}`;
}

/** The condition under which `f` is a regular (untagged) field: its versions minus tagged ones. */
function _regularCond(f: Field, ctx: Range): string {
  const present = _intersect(f.versions, ctx);
  if (present === null) return "false";
  const tagged = _intersect(f.tagged, present);
  if (tagged === null) return _cond(present, ctx);
  const pieces: Range[] = [];
  if (tagged.min > present.min) pieces.push({ min: present.min, max: tagged.min - 1 });
  if (tagged.max < present.max) pieces.push({ min: tagged.max + 1, max: present.max });
  if (pieces.length === 0) return "false";
  return pieces.map((p) => `(${_cond(p, ctx)})`).join(" || ");
}

function _taggedFields(f: Field[], ctx: Range): Field[] {
  return f.filter((x) => _cond(_intersect(x.tagged, x.versions), ctx) !== "false")
    .sort((a, b) => a.tag - b.tag);
}

function _flexParts(g: Gen, ctx: Range): { flex: string; decl: string } {
  const fc = _isFlexExpr(g.msg, ctx);
  if (fc === "true" || fc === "false") return { flex: fc, decl: "" };
  return { flex: "flex", decl: `const flex = ${fc};\n` };
}

function _genEncoder(g: Gen, s: Struct): string {
  const ctx = s.ctx!;
  const { flex, decl } = _flexParts(g, ctx);
  const body: string[] = [];
  for (const f of s.fields) {
    const present = _intersect(f.versions, ctx);
    const pc = _cond(f.versions, ctx);
    if (pc !== "true" && !f.ignorable) {
      // As in Kafka: a value the version cannot carry must be its default, unless the schema
      // marks the field ignorable; dropping it silently would change the message's meaning.
      const nd = `!(${_isDefaultExpr(f, `m.${f.name}`, ctx, g.needed)})`;
      const absent = pc === "false" ? nd : `!(${pc}) && ${nd}`;
      body.push(`if (${absent}) rejectNonDefault("${_label(g, f)}", v);`);
    }
    if (present === null) continue;
    const rc = _regularCond(f, ctx);
    if (rc === "false") continue;
    const stmt = _encodeField(g, f, flex, present, ctx);
    body.push(rc === "true" ? stmt : `if (${rc}) {\n${stmt}\n}`);
  }
  if (flex !== "false") body.push(_genTaggedEncode(g, s, ctx, flex));
  const isRoot = s === g.msg.root;
  const name = isRoot ? `encode${s.tsName}` : `_encode${s.tsName}`;
  const check = isRoot
    ? `checkVersion("${s.tsName}", v, ${g.msg.valid.min}, ${g.msg.valid.max});\n`
    : "";
  const text = body.join("\n");
  const usesFlex = decl !== "" && /\bflex\b/.test(text);
  const doc = isRoot
    ? `/**\n * Encodes a ${s.tsName} body (no header) at version \`v\`.\n *\n${_grammar(g.msg)}` +
      ` * @throws {FrameEncodeError} when \`m\` cannot be represented at version \`v\`.\n */\nexport `
    : "";
  const vName = isRoot || usesFlex || /\bv\b/.test(text) ? "v" : "_v";
  return `${doc}function ${name}(w: Writer, m: ${s.tsName}, ${vName}: number): void {\n${check}` +
    `${usesFlex ? decl : ""}${text}\n}\n`;
}

function _genTaggedEncode(g: Gen, s: Struct, ctx: Range, flex: string): string {
  const tagged = _taggedFields(s.fields, ctx);
  const lines: string[] = [];
  if (tagged.length === 0) {
    lines.push("w.uvarint(0);");
  } else {
    const conds = tagged.map((f) => {
      const tc = _cond(_intersect(f.tagged, f.versions), ctx);
      const nd = `!(${_isDefaultExpr(f, `m.${f.name}`, ctx, g.needed)})`;
      return tc === "true" ? nd : `${tc} && ${nd}`;
    });
    lines.push("let tagCount = 0;");
    for (const c of conds) lines.push(`if (${c}) tagCount++;`);
    lines.push("w.uvarint(tagCount);");
    tagged.forEach((f, i) => {
      const present = _intersect(f.tagged, _intersect(f.versions, ctx))!;
      lines.push(
        `if (${conds[i]}) {\nw.uvarint(${f.tag});\nconst mark = w.beginSized();\n` +
          `${_encodeField(g, f, "true", present, ctx)}\nw.endSized(mark);\n}`,
      );
    });
  }
  const text = lines.join("\n");
  return flex === "true" ? text : `if (${flex}) {\n${text}\n}`;
}

function _grammar(msg: Message): string {
  const flex = msg.flexible === null ? "none" : `${msg.flexible.min}+`;
  const lines = [
    ` * Grammar (versions ${msg.valid.min}-${msg.valid.max}, flexible ${flex}):`,
    ` * \`\`\`text`,
  ];
  const walk = (s: Struct, depth: number) => {
    for (const f of s.fields) {
      const type = f.isArray
        ? `[]${f.elem === "struct" ? f.struct!.kafkaName : f.elem}`
        : f.elem === "struct"
        ? f.struct!.kafkaName
        : f.elem;
      const vs = (r: Range | null) =>
        r === null ? "none" : r.max === MAX_VERSION ? `${r.min}+` : `${r.min}-${r.max}`;
      let note = `v${vs(f.versions)}`;
      if (f.nullable !== null) note += `, nullable ${vs(f.nullable)}`;
      if (f.tagged !== null) note += `, tag ${f.tag} in ${vs(f.tagged)}`;
      lines.push(` * ${"  ".repeat(depth + 1)}${f.name}: ${type} (${note})`);
      if (f.struct !== null) walk(f.struct, depth + 1);
    }
  };
  walk(msg.root, 0);
  lines.push(" * ```", " *");
  return lines.join("\n") + "\n";
}

// ---------------------------------------------------------------- decoders

function _readOne(f: Field, flex: string, label: string): string {
  switch (f.elem) {
    case "string":
      return `r.string(${flex})`;
    case "bytes":
      return `r.bytes(${flex})`;
    case "records":
      return `(r.records(${flex}) ?? r.fail("${label} is null"))`;
    case "struct":
      return `_decode${f.struct!.tsName}(r, v)`;
    default:
      return `r.${f.elem}()`;
  }
}

function _readNullable(f: Field, flex: string): string {
  switch (f.elem) {
    case "string":
      return `r.nullableString(${flex})`;
    case "bytes":
      return `r.nullableBytes(${flex})`;
    case "records":
      return `r.records(${flex})`;
    case "struct":
      return `(r.int8() < 0 ? null : _decode${f.struct!.tsName}(r, v))`;
    default:
      throw new Error(`${f.kafkaName}: ${f.elem} cannot be nullable`);
  }
}

/** Statements assigning field `f`, read at a version within `present`, to `target`. */
function _decodeField(
  g: Gen,
  f: Field,
  target: string,
  flex: string,
  present: Range,
  ctx: Range,
): string {
  const nc = _nullCond(f, present);
  const label = _label(g, f);
  if (!f.isArray) {
    const one = _readOne(f, flex, label);
    const expr = nc === "false"
      ? one
      : nc === "true"
      ? _readNullable(f, flex)
      : `(${nc} ? ${_readNullable(f, flex)} : ${one})`;
    return `${target} = ${expr};`;
  }
  const elem: Field = { ...f, isArray: false, nullable: null };
  const min = _arrayMinElementBytes(g.msg, f, ctx);
  const onNull = nc === "false"
    ? `r.fail("${label} is null");`
    : nc === "true"
    ? `${target} = null;`
    : `if (${nc}) ${target} = null;\nelse r.fail("${label} is null");`;
  return `{\nconst n = r.arrayLength(${flex}, ${min});\nif (n < 0) {\n${onNull}\n} else {\n` +
    `const a: ${_elemTs(f)}[] = [];\nfor (let i = 0; i < n; i++) a.push(${
      _readOne(elem, flex, label)
    });\n${target} = a;\n}\n}`;
}

function _genDecoder(g: Gen, s: Struct): string {
  const ctx = s.ctx!;
  const { flex, decl } = _flexParts(g, ctx);
  const body: string[] = [];
  const values: string[] = [];
  for (const f of s.fields) {
    const present = _intersect(f.versions, ctx);
    const type = _fieldTs(f, ctx);
    const rc = present === null ? "false" : _regularCond(f, ctx);
    const tagged = present !== null && _cond(_intersect(f.tagged, present), ctx) !== "false";
    const local = `$${f.name}`;
    if (rc === "false" && !tagged) {
      values.push(`${f.name}: ${_defaultExpr(f, ctx)}`);
      continue;
    }
    values.push(`${f.name}: ${local}`);
    if (rc === "true" && !tagged && !f.isArray) {
      body.push(_decodeField(g, f, `const ${local}`, flex, present!, ctx));
    } else if (rc === "true" && !tagged) {
      body.push(`let ${local}: ${type};`, _decodeField(g, f, local, flex, present!, ctx));
    } else {
      const annotated = ["number", "bigint", "boolean", "string"].includes(type) ? "" : `: ${type}`;
      body.push(`let ${local}${annotated} = ${_defaultExpr(f, ctx)};`);
      if (rc !== "false") {
        body.push(`if (${rc}) {\n${_decodeField(g, f, local, flex, present!, ctx)}\n}`);
      }
    }
  }
  if (flex !== "false") body.push(_genTaggedDecode(g, s, ctx, flex));
  const isRoot = s === g.msg.root;
  const name = isRoot ? `decode${s.tsName}` : `_decode${s.tsName}`;
  const check = isRoot
    ? `checkVersion("${s.tsName}", v, ${g.msg.valid.min}, ${g.msg.valid.max});\n`
    : "";
  const text = body.join("\n");
  const usesFlex = decl !== "" && /\bflex\b/.test(text);
  const doc = isRoot
    ? `/**\n * Decodes a ${s.tsName} body at version \`v\`; fields absent in \`v\` hold their defaults.\n` +
      ` *\n * @throws {MalformedFrameError} when the bytes do not hold a valid body.\n */\nexport `
    : "";
  const vName = isRoot || usesFlex || /\bv\b/.test(text) ? "v" : "_v";
  return `${doc}function ${name}(r: Reader, ${vName}: number): ${s.tsName} {\n${check}` +
    `${usesFlex ? decl : ""}${text}\nreturn {\n${values.join(",\n")}\n};\n}\n`;
}

function _genTaggedDecode(g: Gen, s: Struct, ctx: Range, flex: string): string {
  const tagged = _taggedFields(s.fields, ctx);
  let text: string;
  if (tagged.length === 0) {
    text = "r.skipTaggedFields();";
  } else {
    const cases = tagged.map((f) => {
      const present = _intersect(f.tagged, _intersect(f.versions, ctx))!;
      const tc = _cond(present, ctx);
      const read = _decodeField(g, f, `$${f.name}`, "true", present, ctx);
      const stmt = tc === "true" ? read : `if (${tc}) {\n${read}\n} else r.skip(end - r.offset);`;
      return `case ${f.tag}: {\n${stmt}\nbreak;\n}`;
    });
    text = `const tagCount = r.taggedFieldCount();\nfor (let t = 0; t < tagCount; t++) {\n` +
      `const tag = r.uvarint();\nconst end = r.taggedFieldEnd();\nswitch (tag) {\n` +
      `${cases.join("\n")}\ndefault:\nr.skip(end - r.offset);\n}\nr.expectOffset(end);\n}`;
  }
  return flex === "true" ? text : `if (${flex}) {\n${text}\n}`;
}

// ---------------------------------------------------------------- types and defaults

function _genInterface(s: Struct, isRoot: boolean, msg: Message): string {
  const doc = isRoot
    ? `/** The ${s.tsName} body (API key ${msg.apiKey}, versions ${msg.valid.min}-${msg.valid.max}). */\n`
    : `/** The ${s.kafkaName} struct of ${msg.name}. */\n`;
  const fields = s.fields.map((f) => `${_doc(f.about, "  ")}  ${f.name}: ${_fieldTs(f, s.ctx)};`);
  return `${doc}export interface ${s.tsName} {\n${fields.join("\n")}\n}\n`;
}

function _genCreate(s: Struct): string {
  const values = s.fields.map((f) => `${f.name}: ${_defaultExpr(f, s.ctx)}`);
  return `/** Creates a ${s.tsName} holding the schema defaults. */\n` +
    `export function create${s.tsName}(): ${s.tsName} {\nreturn {\n${values.join(",\n")}\n};\n}\n`;
}

function _genIsDefault(g: Gen, s: Struct): string {
  const parts = s.fields.map((f) => _isDefaultExpr(f, `m.${f.name}`, s.ctx, g.needed));
  const body = parts.length === 0 ? "true" : parts.join(" &&\n");
  return `function _isDefault${s.tsName}(m: ${s.tsName}): boolean {\nreturn ${body};\n}\n`;
}

// ---------------------------------------------------------------- files

interface ApiFile {
  api: string;
  file: string;
  request: Message;
  response: Message;
  exports: { types: string[]; values: string[] };
}

function _genMessage(msg: Message, exportsOut: { types: string[]; values: string[] }): string {
  const g: Gen = { msg, needed: new Set() };
  const parts: string[] = [];
  for (const s of msg.structs) {
    if (s.ctx === null) continue;
    parts.push(_genInterface(s, s === msg.root, msg));
    exportsOut.types.push(s.tsName);
  }
  for (const s of msg.structs) {
    if (s.ctx === null) continue;
    parts.push(_genCreate(s));
    exportsOut.values.push(`create${s.tsName}`);
  }
  for (const s of msg.structs) {
    if (s.ctx === null) continue;
    parts.push(_genEncoder(g, s), _genDecoder(g, s));
  }
  exportsOut.values.push(`encode${msg.root.tsName}`, `decode${msg.root.tsName}`);
  // _isDefault helpers may need further helpers for nested structs, so iterate to a fixpoint.
  const done = new Set<Struct>();
  while (done.size < g.needed.size) {
    for (const s of [...g.needed]) {
      if (done.has(s)) continue;
      done.add(s);
      parts.push(_genIsDefault(g, s));
    }
  }
  return parts.join("\n");
}

function _genApiFile(af: ApiFile): string {
  const body = _genMessage(af.request, af.exports) + "\n" + _genMessage(af.response, af.exports);
  const wireNames = ["checkVersion", "rejectNonDefault", "requireNonNull", "ZERO_UUID"].filter((
    n,
  ) => new RegExp(`\\b${n}\\b`).test(body));
  const typeNames = /:\s*Records\b/.test(body) ? ["type Records"] : [];
  const imports = [...wireNames, ...typeNames, "type Reader", "type Writer"].sort((a, b) =>
    a.replace("type ", "").localeCompare(b.replace("type ", ""))
  );
  return `// Code generated by protocol/kafka/generate.ts from Apache Kafka's ${af.api}Request.json\n` +
    `// and ${af.api}Response.json (Apache License 2.0). DO NOT EDIT.\n\n` +
    `/**\n * Codecs for the Kafka ${af.api} API (key ${af.request.apiKey}).\n *\n * @module\n */\n\n` +
    `import { ${imports.join(", ")} } from "../wire.ts";\n\n${body}`;
}

function _vs(r: Range | null): string {
  return r === null ? "null" : `[${r.min}, ${r.max}]`;
}

function _descriptorFields(s: Struct, depth: number, ns: string): string {
  const pad = "  ".repeat(depth);
  const items = s.fields.map((f) => {
    const type = (f.isArray ? "[]" : "") + f.elem;
    const nested = f.struct === null
      ? "fields: null, create: null"
      : `fields: ${
        _descriptorFields(f.struct, depth + 1, ns)
      }, create: ${ns}.create${f.struct.tsName}`;
    return `${pad}{ name: "${f.name}", type: "${type}", versions: ${_vs(f.versions)}, ` +
      `nullableVersions: ${_vs(f.nullable)}, taggedVersions: ${_vs(f.tagged)}, tag: ${f.tag}, ` +
      `${nested} }`;
  });
  return `[\n${items.join(",\n")}\n${pad}]`;
}

function _genDescriptors(files: ApiFile[]): string {
  const ns = (af: ApiFile) => `_${_camel(af.api)}`;
  const imports = files.map((af) => `import * as ${ns(af)} from "./${af.file}";`);
  const msgDesc = (af: ApiFile, m: Message) =>
    `{ name: "${m.name}", encode: ${ns(af)}.encode${m.root.tsName}, decode: ${
      ns(af)
    }.decode${m.root.tsName}, ` +
    `create: ${ns(af)}.create${m.root.tsName}, fields: ${_descriptorFields(m.root, 2, ns(af))} }`;
  const apis = [...files].sort((a, b) => a.request.apiKey - b.request.apiKey).map((af) =>
    `{ apiKey: ${af.request.apiKey}, name: "${af.api}", minVersion: ${af.request.valid.min}, ` +
    `maxVersion: ${af.request.valid.max}, flexibleMinVersion: ${
      af.request.flexible?.min ?? -1
    }, request: ${msgDesc(af, af.request)}, response: ${msgDesc(af, af.response)} }`
  );
  return `// Code generated by protocol/kafka/generate.ts. DO NOT EDIT.\n\n` +
    `/**\n * A table of every generated API codec, for dispatch by API key and for tests that walk\n` +
    ` * the schema (the field descriptors mirror the Kafka JSON schemas).\n *\n * @module\n */\n\n` +
    `import type { Reader, Writer } from "../wire.ts";\n${
      imports.join("\n")
    }\n\n${DESCRIPTOR_TYPES}` +
    `/** Every generated API, sorted by API key. */\n` +
    `export const API_DESCRIPTORS: readonly ApiDescriptor[] = [\n${apis.join(",\n")}\n];\n\n` +
    `const _BY_KEY: ReadonlyMap<number, ApiDescriptor> = new Map(API_DESCRIPTORS.map((d) => [d.apiKey, d]));\n\n` +
    `/** Returns the codecs of \`apiKey\`, or undefined when it is not generated. */\n` +
    `export function apiDescriptor(apiKey: number): ApiDescriptor | undefined {\n` +
    `return _BY_KEY.get(apiKey);\n}\n`;
}

const DESCRIPTOR_TYPES =
  `/** A version range, inclusive; the upper bound 32767 stands for "and later". */
export type VersionRange = readonly [min: number, max: number];

/** One field of a message schema. */
export interface FieldDescriptor {
  /** The camelCase property name. */
  readonly name: string;
  /** The Kafka type: a primitive ("int32", "string", ...) or "struct", prefixed "[]" for arrays. */
  readonly type: string;
  /** Versions in which the field exists, or null for none. */
  readonly versions: VersionRange | null;
  /** Versions in which the field may be null. */
  readonly nullableVersions: VersionRange | null;
  /** Versions in which the field is a tagged field. */
  readonly taggedVersions: VersionRange | null;
  /** The tag, or -1 when the field is never tagged. */
  readonly tag: number;
  /** The fields of a struct (or struct array) field. */
  readonly fields: readonly FieldDescriptor[] | null;
  /** Creates a struct element holding its defaults. */
  readonly create: (() => unknown) | null;
}

/** The codec of one request or response body. */
export interface MessageDescriptor {
  /** The schema name, such as "ProduceRequest". */
  readonly name: string;
  /** Encodes a body; \`m\` must be of the message's type (hence \`never\` here). */
  readonly encode: (w: Writer, m: never, v: number) => void;
  /** Decodes a body. */
  readonly decode: (r: Reader, v: number) => unknown;
  /** Creates a body holding the schema defaults. */
  readonly create: () => unknown;
  /** The top-level fields. */
  readonly fields: readonly FieldDescriptor[];
}

/** The request and response codecs of one API. */
export interface ApiDescriptor {
  /** The API key. */
  readonly apiKey: number;
  /** The API name, such as "Produce". */
  readonly name: string;
  /** Lowest valid version. */
  readonly minVersion: number;
  /** Highest valid version. */
  readonly maxVersion: number;
  /** First flexible version, or -1 when no version is flexible. */
  readonly flexibleMinVersion: number;
  /** The request body codec. */
  readonly request: MessageDescriptor;
  /** The response body codec. */
  readonly response: MessageDescriptor;
}

`;

function _genModIndex(files: ApiFile[]): string {
  const lines = files.map((af) => {
    const types = af.exports.types.map((t) => `type ${t}`);
    return `export { ${[...af.exports.values, ...types].join(", ")} } from "./${af.file}";`;
  });
  lines.push(
    `export { type ApiDescriptor, apiDescriptor, API_DESCRIPTORS, type FieldDescriptor, ` +
      `type MessageDescriptor, type VersionRange } from "./descriptors.ts";`,
  );
  return `// Code generated by protocol/kafka/generate.ts. DO NOT EDIT.\n\n` +
    `/**\n * Generated Kafka message codecs: for each API, the request and response interfaces,\n` +
    ` * \`create*\` factories holding schema defaults, and \`encode*\`/\`decode*\` body codecs.\n` +
    ` *\n * @example\n * \`\`\`ts\n * import { createApiVersionsRequest, decodeApiVersionsRequest, ` +
    `encodeApiVersionsRequest } from "./mod.ts";\n * import { Reader, Writer } from "../wire.ts";\n` +
    ` * const w = new Writer();\n * const req = createApiVersionsRequest();\n` +
    ` * req.clientSoftwareName = "rustmq";\n * encodeApiVersionsRequest(w, req, 3);\n` +
    ` * const back = decodeApiVersionsRequest(new Reader(w.finish()), 3);\n` +
    ` * if (back.clientSoftwareName !== "rustmq") throw new Error("unreachable");\n * \`\`\`\n` +
    ` *\n * @module\n */\n\n${lines.join("\n")}\n`;
}

function _genApiKeys(dir: string, generated: Set<number>): string {
  const rows: { key: number; name: string; valid: Range; flexible: Range | null }[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.name.endsWith("Request.json")) continue;
    const raw = _readSchema(dir, entry.name.slice(0, -5));
    if (raw.apiKey === undefined) continue;
    const valid = parseVersions(raw.validVersions)!;
    rows.push({
      key: raw.apiKey,
      name: raw.name.replace(/Request$/, ""),
      valid,
      flexible: _intersect(parseVersions(raw.flexibleVersions), valid),
    });
  }
  rows.sort((a, b) => a.key - b.key);
  const keys = rows.map((r) => `  ${r.name}: ${r.key},`).join("\n");
  const table = rows.map((r) =>
    `  { apiKey: ${r.key}, name: "${r.name}", minVersion: ${r.valid.min}, maxVersion: ${r.valid.max}, ` +
    `flexibleMinVersion: ${r.flexible?.min ?? -1}, generated: ${generated.has(r.key)} },`
  ).join("\n");
  return `// Code generated by protocol/kafka/generate.ts from Apache Kafka's message schemas. DO NOT EDIT.

/**
 * Kafka API keys and, per API, the versions the schemas define and the first flexible version.
 *
 * @module
 */

/**
 * Every Kafka API key, by API name.
 *
 * @example
 * \`\`\`ts
 * import { ApiKey } from "./api_keys.ts";
 * if (ApiKey.Produce !== 0 || ApiKey.ApiVersions !== 18) throw new Error("unreachable");
 * \`\`\`
 */
export const ApiKey = {
${keys}
} as const;

/** One Kafka API key number. */
export type ApiKey = typeof ApiKey[keyof typeof ApiKey];

/** The versions of one API, as its JSON schema defines them. */
export interface ApiVersionRange {
  /** The API key. */
  readonly apiKey: number;
  /** The API name, such as "Produce". */
  readonly name: string;
  /** Lowest valid version. */
  readonly minVersion: number;
  /** Highest valid version. */
  readonly maxVersion: number;
  /** First flexible version (compact encodings, tagged fields), or -1 when none is. */
  readonly flexibleMinVersion: number;
  /** Whether protocol/kafka/messages has codecs for this API. */
  readonly generated: boolean;
}

/** Every API in the schema set, sorted by API key. */
export const API_VERSION_RANGES: readonly ApiVersionRange[] = [
${table}
];

const _BY_KEY: ReadonlyMap<number, ApiVersionRange> = new Map(
  API_VERSION_RANGES.map((r) => [r.apiKey, r]),
);

/**
 * Returns the version range of \`apiKey\`, or undefined for an unknown key.
 *
 * @example
 * \`\`\`ts
 * import { apiVersionRange } from "./api_keys.ts";
 * if (apiVersionRange(0)?.flexibleMinVersion !== 9) throw new Error("unreachable");
 * \`\`\`
 */
export function apiVersionRange(apiKey: number): ApiVersionRange | undefined {
  return _BY_KEY.get(apiKey);
}

/**
 * Whether \`version\` of \`apiKey\` is flexible. Versions above the known maximum count as
 * flexible when the API has flexible versions, as in Kafka, so newer clients still parse.
 */
export function isFlexibleVersion(apiKey: number, version: number): boolean {
  const r = _BY_KEY.get(apiKey);
  return r !== undefined && r.flexibleMinVersion >= 0 && version >= r.flexibleMinVersion;
}
`;
}

// ---------------------------------------------------------------- main

/** Generates all files from the schemas in `schemaDir` into `outDir` (protocol/kafka). */
export function generate(schemaDir: string, outDir: string): string[] {
  const files: ApiFile[] = GENERATED_APIS.map((api) => {
    const file = `${_snake(api)}.ts`;
    return {
      api,
      file,
      request: _buildMessage(_readSchema(schemaDir, `${api}Request`), file),
      response: _buildMessage(_readSchema(schemaDir, `${api}Response`), file),
      exports: { types: [], values: [] },
    };
  });
  const written: string[] = [];
  const write = (path: string, text: string) => {
    Deno.writeTextFileSync(path, text);
    written.push(path);
  };
  Deno.mkdirSync(`${outDir}/messages`, { recursive: true });
  for (const af of files) {
    af.response.apiKey = af.request.apiKey;
    write(`${outDir}/messages/${af.file}`, _genApiFile(af));
  }
  write(`${outDir}/messages/descriptors.ts`, _genDescriptors(files));
  write(`${outDir}/messages/mod.ts`, _genModIndex(files));
  const generated = new Set(files.map((f) => f.request.apiKey));
  write(`${outDir}/api_keys.ts`, _genApiKeys(schemaDir, generated));
  return written;
}

/** Formats `paths` with `deno fmt` under the repository's deno.json, as the commit hook would. */
export function formatFiles(paths: string[], configPath: string): void {
  const fmt = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", "--config", configPath, ...paths],
  });
  const { code, stderr } = fmt.outputSync();
  if (code !== 0) {
    throw new Error(`deno fmt failed with exit code ${code}: ${new TextDecoder().decode(stderr)}`);
  }
}

if (import.meta.main) {
  const schemaDir = Deno.args[0] ?? "../shared/kafka-protocol/message";
  const outDir = new URL(".", import.meta.url).pathname.replace(/\/$/, "");
  const written = generate(schemaDir, outDir);
  formatFiles(written, new URL("../../deno.json", import.meta.url).pathname);
  console.log(`generated ${written.length} files`);
}
