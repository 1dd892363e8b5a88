/**
 * Certificates for mutual-TLS tests, made with the `openssl` command line: a CA, a broker
 * certificate for localhost and 127.0.0.1, client certificates signed by that CA, and one client
 * signed by another CA. Everything is written under the caller's directory.
 *
 * @module
 */

/** Paths of one certificate and its key, with the PEM text. */
export interface CertFiles {
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** What {@linkcode makeMtlsCertificates} writes. */
export interface MtlsCertificates {
  /** The CA that signs the broker and the trusted clients. */
  readonly caPath: string;
  readonly caPem: string;
  readonly broker: CertFiles;
  /** Trusted clients, by the name given. */
  readonly clients: Readonly<Record<string, CertFiles>>;
  /** A client whose certificate another CA signed. */
  readonly stranger: CertFiles;
}

/** Whether the `openssl` command is installed. */
export function opensslMissing(): boolean {
  return new Deno.Command("sh", { args: ["-c", "command -v openssl"] }).outputSync().code !== 0;
}

/**
 * Makes a CA, the broker's certificate and one client certificate per entry of `clients`
 * (name → OpenSSL subject such as "/O=Acme/OU=eng/CN=alice", and optional SAN extension text).
 */
export async function makeMtlsCertificates(
  dir: string,
  clients: Record<string, { subject: string; san?: string }>,
): Promise<MtlsCertificates> {
  const ca = await _selfSigned(dir, "ca", "/O=RustMQ Test/CN=Test CA");
  const broker = await _signed(dir, "broker", "/CN=localhost", ca, "DNS:localhost,IP:127.0.0.1");
  const out: Record<string, CertFiles> = {};
  for (const [name, spec] of Object.entries(clients)) {
    out[name] = await _signed(dir, name, spec.subject, ca, spec.san);
  }
  const otherCa = await _selfSigned(dir, "other-ca", "/CN=Other CA");
  const stranger = await _signed(dir, "stranger", "/CN=alice", otherCa);
  return { caPath: ca.certPath, caPem: ca.certPem, broker, clients: out, stranger };
}

async function _selfSigned(dir: string, name: string, subject: string): Promise<CertFiles> {
  const files = _paths(dir, name);
  await _openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    files.keyPath,
    "-out",
    files.certPath,
    "-days",
    "2",
    "-subj",
    subject,
  ]);
  return await _read(files);
}

async function _signed(
  dir: string,
  name: string,
  subject: string,
  ca: CertFiles,
  san?: string,
): Promise<CertFiles> {
  const files = _paths(dir, name);
  const csr = `${dir}/${name}.csr`;
  await _openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    files.keyPath,
    "-out",
    csr,
    "-subj",
    subject,
  ]);
  const ext = `${dir}/${name}.ext`;
  // Always some extension, so the certificate is X.509 v3: rustls refuses v1 certificates, and a
  // refusal for that reason would hide the one a test means to check.
  const lines = [
    "basicConstraints=CA:FALSE",
    ...(san === undefined ? [] : [`subjectAltName=${san}`]),
  ];
  await Deno.writeTextFile(ext, lines.join("\n") + "\n");
  await _openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.certPath,
    "-CAkey",
    ca.keyPath,
    "-set_serial",
    String(Math.floor(Math.random() * 1e9)),
    "-out",
    files.certPath,
    "-days",
    "2",
    "-extfile",
    ext,
  ]);
  return await _read(files);
}

function _paths(dir: string, name: string): { certPath: string; keyPath: string } {
  return { certPath: `${dir}/${name}.pem`, keyPath: `${dir}/${name}.key` };
}

async function _read(files: { certPath: string; keyPath: string }): Promise<CertFiles> {
  return {
    ...files,
    certPem: await Deno.readTextFile(files.certPath),
    keyPem: await Deno.readTextFile(files.keyPath),
  };
}

async function _openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
    .output();
  if (out.code !== 0) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}
