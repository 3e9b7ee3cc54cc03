#![allow(clippy::unwrap_used)]

use std::sync::Mutex as StdMutex;

use super::*;

/// An in-memory EC2: at most one group, with scripted answers to `DeleteSecurityGroup`.
#[derive(Default)]
struct FakeEc2 {
    state: StdMutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    group: Option<String>,
    next_id: u32,
    ensures: u32,
    creates: u32,
    deletes: Vec<String>,
    /// Answers of the next deletes, in order; the group is deleted when none is left.
    delete_answers: Vec<Result<Deletion, BackendError>>,
}

impl FakeEc2 {
    fn with(f: impl FnOnce(&mut FakeState)) -> Arc<Self> {
        let fake = Self::default();
        f(&mut fake.state.lock().unwrap());
        Arc::new(fake)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }
}

impl BackendSecurityGroupApi for FakeEc2 {
    fn ensure(&self) -> BoxFuture<'_, Result<Obtained, BackendError>> {
        let mut state = self.state();
        state.ensures += 1;
        let obtained = match &state.group {
            Some(id) => Obtained::Found(id.clone()),
            None => {
                state.next_id += 1;
                state.creates += 1;
                let id = format!("sg-{}", state.next_id);
                state.group = Some(id.clone());
                Obtained::Created(id)
            }
        };
        Box::pin(std::future::ready(Ok(obtained)))
    }

    fn find(&self) -> BoxFuture<'_, Result<Option<String>, BackendError>> {
        Box::pin(std::future::ready(Ok(self.state().group.clone())))
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Deletion, BackendError>> {
        let mut state = self.state();
        state.deletes.push(id.to_owned());
        let answer = if state.delete_answers.is_empty() {
            if state.group.as_deref() == Some(id) {
                state.group = None;
                Ok(Deletion::Deleted)
            } else {
                Ok(Deletion::NotFound)
            }
        } else {
            state.delete_answers.remove(0)
        };
        Box::pin(std::future::ready(answer))
    }
}

#[tokio::test]
async fn get_creates_once_and_caches_the_id() {
    let fake = FakeEc2::with(|_| {});
    let provider = BackendSecurityGroup::managed(fake.clone());
    let clone = provider.clone();
    let first = provider.get().await.unwrap();
    assert_eq!(first, "sg-1");
    assert_eq!(clone.get().await.unwrap(), first, "clones share the cache");
    assert_eq!(provider.get().await.unwrap(), first);
    let state = fake.state();
    assert_eq!((state.ensures, state.creates), (1, 1));
}

#[tokio::test]
async fn get_adopts_an_existing_tagged_group() {
    let fake = FakeEc2::with(|s| s.group = Some("sg-existing".to_owned()));
    let provider = BackendSecurityGroup::managed(fake.clone());
    assert_eq!(provider.get().await.unwrap(), "sg-existing");
    assert_eq!(fake.state().creates, 0);
}

#[tokio::test]
async fn a_given_group_is_returned_and_never_deleted() {
    let provider = BackendSecurityGroup::given("sg-user");
    assert_eq!(provider.get().await.unwrap(), "sg-user");
    assert_eq!(
        provider.release().await.unwrap(),
        Released::UserGiven("sg-user".to_owned())
    );
    assert_eq!(provider.get().await.unwrap(), "sg-user");
}

#[tokio::test]
async fn release_deletes_the_group_and_the_next_get_creates_a_new_one() {
    let fake = FakeEc2::with(|_| {});
    let provider = BackendSecurityGroup::managed(fake.clone());
    let first = provider.get().await.unwrap();
    assert_eq!(
        provider.release().await.unwrap(),
        Released::Deleted(first.clone())
    );
    assert_eq!(fake.state().group, None);
    let second = provider.get().await.unwrap();
    assert_ne!(second, first, "the cache was cleared");
    let state = fake.state();
    assert_eq!((state.ensures, state.creates), (2, 2));
    assert_eq!(state.deletes, vec![first]);
}

#[tokio::test]
async fn a_group_in_use_is_kept_and_not_recreated() {
    let fake = FakeEc2::with(|s| {
        s.delete_answers = vec![Ok(Deletion::InUse(
            "resource sg-1 has a dependent object".to_owned(),
        ))];
    });
    let provider = BackendSecurityGroup::managed(fake.clone());
    let id = provider.get().await.unwrap();
    assert_eq!(
        provider.release().await.unwrap(),
        Released::InUse {
            id: id.clone(),
            reason: "resource sg-1 has a dependent object".to_owned(),
        }
    );
    assert_eq!(provider.get().await.unwrap(), id);
    let state = fake.state();
    assert_eq!(state.group.as_deref(), Some(id.as_str()));
    assert_eq!(
        (state.ensures, state.creates),
        (1, 1),
        "served from the cache"
    );
}

#[tokio::test]
async fn a_group_already_gone_counts_as_released() {
    let fake = FakeEc2::with(|s| s.delete_answers = vec![Ok(Deletion::NotFound)]);
    let provider = BackendSecurityGroup::managed(fake.clone());
    let first = provider.get().await.unwrap();
    assert_eq!(provider.release().await.unwrap(), Released::NotPresent);
    // Someone else deleted it meanwhile: the next get must not return the stale ID.
    fake.state().group = None;
    let second = provider.get().await.unwrap();
    assert_ne!(second, first);
    assert_eq!(fake.state().ensures, 2);
}

#[tokio::test]
async fn releasing_without_a_tagged_group_deletes_nothing() {
    let fake = FakeEc2::with(|_| {});
    let provider = BackendSecurityGroup::managed(fake.clone());
    assert_eq!(provider.release().await.unwrap(), Released::NotPresent);
    assert!(fake.state().deletes.is_empty());
}

#[tokio::test]
async fn a_failed_delete_is_an_error_and_keeps_the_cache() {
    let fake = FakeEc2::with(|s| {
        s.delete_answers = vec![Err(BackendError::new(
            "permission",
            "UnauthorizedOperation: no",
        ))];
    });
    let provider = BackendSecurityGroup::managed(fake.clone());
    let id = provider.get().await.unwrap();
    let error = provider.release().await.expect_err("the delete failed");
    assert_eq!(error.category, "permission");
    assert_eq!(provider.get().await.unwrap(), id);
    assert_eq!(fake.state().ensures, 1);
    // Retried later, it goes.
    assert_eq!(provider.release().await.unwrap(), Released::Deleted(id));
}
