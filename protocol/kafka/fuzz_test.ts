/**
 * Decoder fuzz test: random and mutated frames through the header and body decoders must either
 * decode or throw MalformedFrameError, never anything else. Decoders consume at least one byte
 * per loop step and check every length before allocating, so each frame finishes in time linear
 * in its size; a hang would show as this test timing out.
 *
 * Replay a failure with `KAFKA_FUZZ_SEED=<seed> deno test -A protocol/kafka/fuzz_test.ts`.
 */

import assert from "node:assert/strict";
import { populateMessage, SeededRandom } from "./_populate.ts";
import {
  decodeRequestHeader,
  decodeResponseHeader,
  encodeRequestHeader,
  encodeResponseHeader,
} from "./header.ts";
import { API_DESCRIPTORS, apiDescriptor } from "./messages/mod.ts";
import { MalformedFrameError, Reader, Writer } from "./wire.ts";

interface Sample {
  isRequest: boolean;
  apiKey: number;
  version: number;
  bytes: Uint8Array;
}

const FRAMES = 100_000;

function _seed(): number {
  let text: string | undefined;
  try {
    text = Deno.env.get("KAFKA_FUZZ_SEED");
  } catch {
    text = undefined;
  }
  return text === undefined ? 0x1badcafe : Number(text) >>> 0;
}

function _corpus(rnd: SeededRandom): Sample[] {
  const out: Sample[] = [];
  for (const api of API_DESCRIPTORS) {
    for (let v = api.minVersion; v <= api.maxVersion; v++) {
      for (const isRequest of [true, false]) {
        const w = new Writer();
        if (isRequest) {
          encodeRequestHeader(w, {
            apiKey: api.apiKey,
            apiVersion: v,
            correlationId: 7,
            clientId: "f",
          });
        } else {
          encodeResponseHeader(w, api.apiKey, v, 7);
        }
        const desc = isRequest ? api.request : api.response;
        desc.encode(w, populateMessage(desc, v, rnd) as never, v);
        out.push({ isRequest, apiKey: api.apiKey, version: v, bytes: w.finish().slice() });
      }
    }
  }
  return out;
}

const _HOSTILE = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

/** Returns a mutated copy of `bytes`. */
function _mutate(bytes: Uint8Array, rnd: SeededRandom, headerBytes: number): Uint8Array {
  const out = bytes.slice();
  const pos = () => out.length === 0 ? 0 : rnd.below(out.length);
  switch (rnd.below(7)) {
    case 0: // random body after a valid header prefix
      return new Uint8Array([...bytes.subarray(0, headerBytes), ...rnd.bytes(rnd.below(64))]);
    case 1: // flip a few bits
      for (let i = rnd.below(4) + 1; i > 0 && out.length > 0; i--) out[pos()]! ^= 1 << rnd.below(8);
      return out;
    case 2: // truncate
      return out.subarray(0, rnd.below(out.length + 1));
    case 3: // hostile length-like bytes
      for (let i = rnd.below(4) + 1; i > 0 && out.length > 0; i--) {
        out[pos()] = _HOSTILE[rnd.below(_HOSTILE.length)]!;
      }
      return out;
    case 4: { // insert random bytes
      const at = pos();
      return new Uint8Array([
        ...out.subarray(0, at),
        ...rnd.bytes(rnd.below(8) + 1),
        ...out.subarray(at),
      ]);
    }
    case 5: { // delete a range
      const at = pos();
      return new Uint8Array([...out.subarray(0, at), ...out.subarray(at + rnd.below(8) + 1)]);
    }
    default: // fully random bytes
      return rnd.bytes(rnd.below(48));
  }
}

/** Decodes like a broker (requests) or client (responses); returns whether a body decoded. */
function _decode(sample: Sample, frame: Uint8Array): boolean {
  const r = new Reader(frame);
  if (sample.isRequest) {
    const h = decodeRequestHeader(r);
    const api = apiDescriptor(h.apiKey);
    // A broker answers unknown APIs and versions without decoding the body.
    if (api === undefined || h.apiVersion < api.minVersion || h.apiVersion > api.maxVersion) {
      return false;
    }
    api.request.decode(r, h.apiVersion);
    return true;
  }
  decodeResponseHeader(r, sample.apiKey, sample.version);
  apiDescriptor(sample.apiKey)!.response.decode(r, sample.version);
  return true;
}

Deno.test("Kafka decoders throw only MalformedFrameError on random and mutated frames", () => {
  const seed = _seed();
  console.log(`kafka fuzz seed=${seed} (set KAFKA_FUZZ_SEED to replay)`);
  const rnd = new SeededRandom(seed);
  const corpus = _corpus(rnd);
  let decoded = 0;
  let malformed = 0;
  for (let i = 0; i < FRAMES; i++) {
    const sample = corpus[rnd.below(corpus.length)]!;
    const headerBytes = sample.isRequest ? 11 : 4;
    const frame = _mutate(sample.bytes, rnd, headerBytes);
    try {
      if (_decode(sample, frame)) decoded++;
    } catch (e) {
      if (!(e instanceof MalformedFrameError)) {
        const hex = Array.from(frame, (b) => b.toString(16).padStart(2, "0")).join("");
        assert.fail(
          `seed=${seed} frame=${i} api=${sample.apiKey} v=${sample.version} ` +
            `request=${sample.isRequest} bytes=${hex}: ${e}`,
        );
      }
      malformed++;
    }
  }
  // The fuzzer must reach both outcomes, or its mutations are not exercising the decoders.
  assert.ok(decoded > FRAMES / 20, `only ${decoded} frames decoded`);
  assert.ok(malformed > FRAMES / 5, `only ${malformed} frames were malformed`);
});
