package dev.leviathan.app.bench;

import java.util.List;

/**
 * One row of {@code compare.csv}: a (mixer, seed) run. The numbers come from the run directory
 * ({@code metrics.csv}'s last row, {@code run.json}'s parameter count) and are empty for a failed run.
 *
 * @param steps the step the run reached
 * @param wallSec training wall time as recorded in {@code metrics.csv} (steps, evaluations and
 *     checkpoints, summed over resumed sessions; model construction excluded)
 * @param status {@code ok}, {@code failed} (with {@code error}) or {@code interrupted} (Ctrl-C; resume
 *     it with {@code --resume})
 */
record CompareRow(String mixer, long seed, Long steps, Long params, Double valLoss, Double valBpc, Double tokensPerSec,
    Double wallSec, String status, String error) {

  static final String HEADER = "mixer,seed,steps,params,val_loss,val_bpc,tokens_per_sec,wall_sec,status,error";
  static final String OK = "ok";
  static final String FAILED = "failed";
  static final String INTERRUPTED = "interrupted";

  boolean ok() {
    return status.equals(OK);
  }

  static CompareRow failed(String mixer, long seed, String error) {
    return new CompareRow(mixer, seed, null, null, null, null, null, null, FAILED, error);
  }

  String csv() {
    return String.join(",", List.of(mixer, Long.toString(seed), steps == null ? "" : steps.toString(),
            params == null ? "" : params.toString(), Reports.number(valLoss, 4), Reports.number(valBpc, 4),
            Reports.number(tokensPerSec, 1), Reports.number(wallSec, 1), status, error == null ? "" : error)
        .stream().map(Reports::cell).toList());
  }
}
