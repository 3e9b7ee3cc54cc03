//! Target group lookups for the TargetGroupBinding webhooks.

use webhook::cluster::{LookupError, LookupFuture, TargetGroupLookup, TargetGroupRef};

/// Used until the process has an AWS client: every lookup fails with a clear reason, so a
/// TargetGroupBinding that needs AWS facts is refused rather than admitted unchecked.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTargetGroupLookup;

impl TargetGroupLookup for NoTargetGroupLookup {
    fn describe<'a>(
        &'a self,
        target: &'a TargetGroupRef,
        _assume_role: Option<&'a str>,
    ) -> LookupFuture<'a> {
        let id = match target {
            TargetGroupRef::Arn(id) | TargetGroupRef::Name(id) => id.clone(),
        };
        Box::pin(std::future::ready(Err(LookupError::Aws(format!(
            "cannot describe target group {id}: this process has no AWS client configured"
        )))))
    }
}
