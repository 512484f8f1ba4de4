#!/usr/bin/python3
"""A Modbus slave that serves an Eastron SDM630 register map, built on Debian's
python3-pymodbus (3.0): pymodbus frames, decodes and answers every request and
owns the datastore; this script only fills the registers and picks the wire.

  sdm630_slave.py --tcp 127.0.0.1:0 --unit 1 --power 123456.7
  sdm630_slave.py --serial /tmp/x/b --unit 7 --power -4321.5 --baud 9600

Prints one line `READY <port-or-path>` on stdout once it serves, then runs
until SIGTERM. Values (SDM630 input registers, FC4, float32 high word first):
voltage L1-3 0x0000/2/4, current L1-3 0x0006/8/A, total power 0x0034, total
PF 0x003E, frequency 0x0046, total energy 0x0156.

Debian installs python3-pymodbus without its Recommends (python3-serial,
python3-serial-asyncio) in CI; pymodbus.server imports them at load time. When
they are missing, tiny stand-ins are registered and the serial server talks to
the pty through our own asyncio transport; the RTU framing stays pymodbus's.
"""
import argparse
import asyncio
import os
import signal
import sys
import termios
import tty
import types


def ensure_serial_modules():
    try:
        import serial  # noqa: F401
        import serial_asyncio  # noqa: F401
    except ImportError:
        serial = types.ModuleType("serial")
        serialutil = types.ModuleType("serial.serialutil")

        class SerialException(Exception):
            pass

        serialutil.SerialException = SerialException
        serial.serialutil = serialutil
        serial.SerialException = SerialException
        serial_asyncio = types.ModuleType("serial_asyncio")

        async def unavailable(*_args, **_kwargs):
            raise SerialException("pyserial-asyncio is not installed")

        serial_asyncio.create_serial_connection = unavailable
        sys.modules.setdefault("serial", serial)
        sys.modules.setdefault("serial.serialutil", serialutil)
        sys.modules.setdefault("serial_asyncio", serial_asyncio)


ensure_serial_modules()

from pymodbus.constants import Endian  # noqa: E402
from pymodbus.datastore import (  # noqa: E402
    ModbusSequentialDataBlock,
    ModbusServerContext,
    ModbusSlaveContext,
)
from pymodbus.payload import BinaryPayloadBuilder  # noqa: E402
from pymodbus.server import async_io  # noqa: E402
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer  # noqa: E402

SDM630 = {
    "voltageL1V": 0x0000,
    "voltageL2V": 0x0002,
    "voltageL3V": 0x0004,
    "currentL1A": 0x0006,
    "currentL2A": 0x0008,
    "currentL3A": 0x000A,
    "powerW": 0x0034,
    "powerFactor": 0x003E,
    "frequencyHz": 0x0046,
    "energyKwh": 0x0156,
}


def float_words(value):
    builder = BinaryPayloadBuilder(byteorder=Endian.Big, wordorder=Endian.Big)
    builder.add_32bit_float(value)
    return builder.to_registers()


def build_context(unit, values):
    size = max(SDM630.values()) + 2
    block = ModbusSequentialDataBlock(0, [0] * size)
    for name, address in SDM630.items():
        block.setValues(address, float_words(values[name]))
    # zero_mode: wire address N is block index N (no +1 shift)
    slave = ModbusSlaveContext(ir=block, hr=block, zero_mode=True)
    return ModbusServerContext(slaves={unit: slave}, single=False)


class PtyTransport(asyncio.Transport):
    """An asyncio transport over a pty (or any tty) file descriptor."""

    def __init__(self, loop, fd, protocol, path):
        super().__init__()
        self.serial = types.SimpleNamespace(port=path)  # what pymodbus logs
        self._loop = loop
        self._fd = fd
        self._protocol = protocol
        self._closing = False
        loop.add_reader(fd, self._on_readable)

    def _on_readable(self):
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._protocol.data_received(data)

    def write(self, data):
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._fd, view)
            except BlockingIOError:
                continue
            view = view[n:]

    def is_closing(self):
        return self._closing

    def close(self):
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        os.close(self._fd)

    def get_extra_info(self, name, default=None):
        return default


async def open_pty(loop, protocol_factory, path, **kwargs):
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd, termios.TCSANOW)
    protocol = protocol_factory()
    transport = PtyTransport(loop, fd, protocol, path)
    protocol.connection_made(transport)
    return transport, protocol


async def main():
    parser = argparse.ArgumentParser()
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--tcp", help="HOST:PORT (port 0: any free port)")
    where.add_argument("--serial", help="serial device or pty path (RTU)")
    parser.add_argument("--unit", type=int, default=1)
    parser.add_argument("--baud", type=int, default=9600)
    parser.add_argument("--power", type=float, required=True, help="total active power, W")
    parser.add_argument("--energy", type=float, default=1234.5, help="total energy, kWh")
    parser.add_argument("--voltage", type=float, default=230.0)
    parser.add_argument("--frequency", type=float, default=50.0)
    parser.add_argument("--pf", type=float, default=0.98)
    args = parser.parse_args()

    current = abs(args.power) / 3 / args.voltage
    values = {
        "voltageL1V": args.voltage,
        "voltageL2V": args.voltage + 1,
        "voltageL3V": args.voltage - 1,
        "currentL1A": current,
        "currentL2A": current,
        "currentL3A": current,
        "powerW": args.power,
        "powerFactor": args.pf,
        "frequencyHz": args.frequency,
        "energyKwh": args.energy,
    }
    context = build_context(args.unit, values)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        server = async_io.ModbusTcpServer(
            context, framer=ModbusSocketFramer, address=(host, int(port)), allow_reuse_address=True
        )
        task = asyncio.create_task(server.serve_forever())
        await server.serving
        bound = server.server.sockets[0].getsockname()[1]
        print(f"READY {bound}", flush=True)
        await stop.wait()
        await server.shutdown()
        task.cancel()
    else:
        async_io.create_serial_connection = open_pty
        server = async_io.ModbusSerialServer(
            context, framer=ModbusRtuFramer, port=args.serial, baudrate=args.baud
        )
        await server.start()
        if server.transport is None:
            print(f"cannot open {args.serial}", file=sys.stderr, flush=True)
            sys.exit(3)
        print(f"READY {args.serial}", flush=True)
        await stop.wait()
        await server.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
