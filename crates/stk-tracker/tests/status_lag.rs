//! Status endpoints that lag their callbacks, over real HTTP (issue 18): the emulators'
//! status answers describe payments as they were an hour ago, so every genuine callback
//! arrives before the status can confirm it. The claim is noted and looked at again within
//! seconds (1, then 2 s later, …), never paid on the callback's word and never left for the
//! sweeper's 30 s round. (`lag.rs` shows the payment recorded once the status catches up.)

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Kind, Options, QUICK, Rig};
use stk_emulator::Endpoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_status_gets_quick_rechecks_not_a_payment() {
    for kind in [
        Kind::KulmiPay,
        Kind::UpesiPay,
        Kind::LipiaFlat,
        Kind::Daraja,
    ] {
        let options = Options {
            status_lag: Duration::from_secs(3_600),
            ..Options::default()
        };
        let rig = Rig::start(kind, options).await;
        let attempt = rig.push(QUICK, "LAGGING-1").await.unwrap();
        let id = attempt.payment_id.clone().unwrap();
        rig.until_callback_delivered(&id).await;
        let queries = || rig.emulator.ledger().requests_to(Endpoint::Status).len();
        let before = queries();
        let claimed_at = rig.clock.now_ms();
        rig.settle().await;
        assert_eq!(queries() - before, 1, "{kind:?}: the claim is checked once");
        let noted = rig.attempt(&attempt.id).await;
        assert!(noted.state.is_open(), "{kind:?}: {noted:?}");
        assert_eq!(noted.claimed_at, Some(claimed_at), "{kind:?}");
        assert_eq!(noted.next_check_at, Some(claimed_at + 1_000), "{kind:?}");
        assert!(rig.events.kinds(&attempt.id).is_empty(), "{kind:?}");

        // A second later the sweeper looks again (the status still lags) and schedules the
        // next look 2 s after that.
        rig.clock.advance(Duration::from_secs(1));
        let swept = rig.tracker.sweep().await.unwrap();
        assert_eq!(swept.queries, 1, "{kind:?}");
        assert_eq!(queries() - before, 2, "{kind:?}");
        let again = rig.attempt(&attempt.id).await;
        assert!(again.state.is_open(), "{kind:?}");
        assert_eq!(again.next_check_at, Some(claimed_at + 3_000), "{kind:?}");
    }
}
