import { describe, expect, it } from 'vitest';
import { otlpSettingsFromEnv, TracingConfigError } from './start.js';

describe('otlpSettingsFromEnv', () => {
  it('is off without an endpoint, when the SDK is disabled, or when the traces exporter is not otlp', () => {
    expect(otlpSettingsFromEnv({})).toBeNull();
    expect(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ' })).toBeNull();
    expect(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' })).toBeNull();
    expect(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' })).toBeNull();
    expect(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'console,otlp' })).not.toBeNull();
  });

  it('sends to <endpoint>/v1/traces over HTTP (protobuf by default), a traces endpoint as it is, and the endpoint itself over gRPC', () => {
    expect(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318/' })).toEqual({
      endpoint: 'http://c:4318/',
      protocol: 'http/protobuf',
      url: 'http://c:4318/v1/traces',
    });
    expect(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })?.protocol).toBe(
      'http/json',
    );
    expect(
      otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:9/traces', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })?.url,
    ).toBe('http://t:9/traces');
    expect(otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })?.url).toBe(
      'http://c:4317',
    );
  });

  it('refuses a protocol it does not know', () => {
    expect(() => otlpSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' })).toThrow(
      TracingConfigError,
    );
  });
});
