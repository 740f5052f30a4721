// Byte-pipe harness of the simulated board (host/simboard.py, back ends icarus and verilator).
//
// Drives the board top built with uart=False (module board_top: rx_bytes / tx_bytes streams)
// from standard input and reports to standard output, in text so that any byte value passes:
//   in:  a decimal count n (at most DEPTH), then n bytes in hex (whitespace separated)
//   out: one line "%02x" per byte the board sent, then "Q <cycles>" once the board is quiet
//        (every input byte taken, nothing going on, nothing sent for QUIET cycles), or
//        "P <cycles>" after SLICE cycles with the board still working (the host sends the
//        next batch, maybe empty, to go on; a run's progress between two status polls is
//        one slice, and a STOP waits at most one slice).
// The board's `active` leaves out a frame the host left unfinished (it waits for the host, so
// such a board counts as quiet: it never wedges the host).
// The host splits longer writes into batches of DEPTH bytes. A count that cannot be read
// (end of input) ends the simulation. Inputs change between
// clock edges and ready/valid are sampled just before the rising edge, like a stream sink.
`timescale 1ns/1ps
module simboard_harness;
  localparam QUIET = 8;
  localparam DEPTH = 16384;
  localparam SLICE = 4096;
  reg clk = 0;
  reg rst = 0;
  reg [7:0] rx_payload = 0;
  reg rx_valid = 0;
  reg tx_ready = 1;
  wire rx_ready, tx_valid, active, led;
  wire [7:0] tx_payload;
  board_top dut(.clk(clk), .rst(rst), .rx_bytes__payload(rx_payload),
                .rx_bytes__valid(rx_valid), .rx_bytes__ready(rx_ready),
                .tx_bytes__payload(tx_payload), .tx_bytes__valid(tx_valid),
                .tx_bytes__ready(tx_ready), .active(active), .led(led));
  reg [7:0] fifo [0:DEPTH-1];
  integer code, n, i, b, quiet, hs_rx, hs_tx, act, spent;
  reg [7:0] txb;
  reg [63:0] cycles = 0;
  initial begin
    forever begin
      code = $fscanf(32'h8000_0000, "%d", n);
      if (code != 1) $finish;
      if (n > DEPTH) begin
        $display("E input of %0d bytes exceeds the harness FIFO (%0d)", n, DEPTH);
        $finish;
      end
      for (i = 0; i < n; i = i + 1) begin
        code = $fscanf(32'h8000_0000, "%x", b);
        fifo[i] = b[7:0];
      end
      i = 0;
      quiet = 0;
      spent = 0;
      while (quiet < QUIET && !(spent >= SLICE && i >= n)) begin
        rx_valid = (i < n);
        rx_payload = (i < n) ? fifo[i] : 8'd0;
        #1;
        hs_rx = rx_valid & rx_ready;
        hs_tx = tx_valid;
        txb = tx_payload;
        act = active;
        clk = 1;
        #1;
        clk = 0;
        cycles = cycles + 1;
        if (hs_rx) i = i + 1;
        if (hs_tx) $display("%02x", txb);
        spent = spent + 1;
        quiet = (i >= n && !act && !hs_tx) ? quiet + 1 : 0;
      end
      if (quiet >= QUIET) $display("Q %0d", cycles);
      else $display("P %0d", cycles);
      $fflush(32'h8000_0001);
    end
  end
endmodule
