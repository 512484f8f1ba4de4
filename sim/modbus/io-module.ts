// A simulated Modbus TCP I/O module: discrete inputs and coils a test (or the
// demo) sets, read by the agent's contact signal. modbus-serial's ServerTCP
// frames it; the bits are this module's own state.
import { ServerTCP } from "modbus-serial";
import { type Logger, pino } from "pino";

export interface IoModuleSim {
  setDiscreteInput(address: number, on: boolean): void;
  setCoil(address: number, on: boolean): void;
  stop(): Promise<void>;
}

export async function startIoModuleSim(opts: {
  host: string;
  port: number;
  unitId?: number;
  logger?: Logger;
}): Promise<IoModuleSim> {
  const log = (opts.logger ?? pino({ level: "silent" })).child({ component: "sim-io-module" });
  const inputs = new Map<number, boolean>();
  const coils = new Map<number, boolean>();
  const server = new ServerTCP(
    {
      getDiscreteInput: (addr: number) => inputs.get(addr) ?? false,
      getCoil: (addr: number) => coils.get(addr) ?? false,
      setCoil: (addr: number, value: boolean) => {
        coils.set(addr, value);
      },
    },
    { host: opts.host, port: opts.port, unitID: opts.unitId ?? 1 },
  );
  await new Promise<void>((resolve, reject) => {
    server.once("initialized", () => resolve());
    server.once("serverError", (err: Error) => reject(err));
  });
  log.info({ host: opts.host, port: opts.port }, "I/O module listening");
  return {
    setDiscreteInput: (a, on) => inputs.set(a, on),
    setCoil: (a, on) => coils.set(a, on),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
