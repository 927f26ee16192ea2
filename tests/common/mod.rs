//! Helpers shared by the Entra provider's integration tests: a clock whose sleeper moves it (so
//! minutes of back-off run instantly), and a served Entra emulator with a ready tenant.

#![allow(dead_code)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use jiff::Timestamp;
use secret_rotator::{clock::Clock, provider::sleeper::Sleeper};

pub mod log_capture;

type SleepHook = Box<dyn Fn(Duration) + Send + Sync>;

/// Real time plus an offset that grows only when the sleeper "sleeps" (instantly) or the test moves
/// it; every sleep is recorded. It works like the emulator's clock, so the two stay in step when
/// each sleep is also applied to the emulator (see [`TestTime::on_sleep`]).
pub struct TestTime {
    offset: Mutex<Duration>,
    slept: Mutex<Vec<Duration>>,
    on_sleep: Mutex<Option<SleepHook>>,
}

impl std::fmt::Debug for TestTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestTime")
            .field("offset", &self.offset)
            .field("slept", &self.slept)
            .finish_non_exhaustive()
    }
}

impl TestTime {
    pub fn new() -> Arc<Self> {
        Self::with_offset(Duration::ZERO)
    }

    pub fn with_offset(offset: Duration) -> Arc<Self> {
        Arc::new(Self {
            offset: Mutex::new(offset),
            slept: Mutex::default(),
            on_sleep: Mutex::default(),
        })
    }

    /// Moves this clock only (not through the sleep hook).
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }

    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().unwrap().clone()
    }

    /// Calls `hook` with each sleep, e.g. to move the emulator's clock in step.
    pub fn on_sleep(&self, hook: impl Fn(Duration) + Send + Sync + 'static) {
        *self.on_sleep.lock().unwrap() = Some(Box::new(hook));
    }
}

impl Clock for TestTime {
    fn now(&self) -> Timestamp {
        Timestamp::now() + *self.offset.lock().unwrap()
    }
}

#[async_trait::async_trait]
impl Sleeper for TestTime {
    async fn sleep(&self, duration: Duration) {
        self.slept.lock().unwrap().push(duration);
        self.advance(duration);
        if let Some(hook) = self.on_sleep.lock().unwrap().as_ref() {
            hook(duration);
        }
    }
}

pub mod emulator {
    //! A served Entra emulator with a tenant, an operator application (Graph role
    //! `Application.ReadWrite.OwnedBy`, owner of the target) and a target application; and the
    //! provider configured against it, on a [`TestTime`] that moves the emulator's clock in step.

    use std::{net::SocketAddr, sync::Arc, time::Duration};

    use sandbox::entra::{
        ApplicationSpec, CreatedApplication, Emulator, PasswordSpec, ServerHandle, TenantSpec,
    };
    use secrecy::SecretString;
    use secret_rotator::provider::{
        ApplicationId, ApplicationRef, CredentialHolder,
        entra::{ClientSecretSignIn, EntraConfig, EntraProvider, OperatorSignIn},
    };

    use super::TestTime;

    /// The Graph app role the operator needs.
    pub const OWNED_BY: &str = "Application.ReadWrite.OwnedBy";

    pub struct Env {
        pub em: Emulator,
        pub server: ServerHandle,
        pub tenant: String,
        pub operator: CreatedApplication,
        pub operator_secret: SecretString,
        pub target: CreatedApplication,
        pub time: Arc<TestTime>,
    }

    impl Env {
        pub async fn new() -> Self {
            Self::with(Emulator::new()).await
        }

        pub async fn with(em: Emulator) -> Self {
            let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let server = em.serve(addr).await.unwrap();
            let tenant = em
                .create_tenant(TenantSpec {
                    domains: vec!["contoso.onmicrosoft.com".into()],
                    ..TenantSpec::default()
                })
                .unwrap()
                .id;
            let operator = em
                .create_application(&tenant, ApplicationSpec::new("secret-rotator"))
                .unwrap();
            let operator_sp = operator.service_principal_id.clone().unwrap();
            em.grant_app_roles(&operator_sp, &[OWNED_BY]).unwrap();
            let operator_secret = em
                .seed_password(&operator.app_id, PasswordSpec::default())
                .unwrap()
                .secret;
            let target = em
                .create_application(&tenant, ApplicationSpec::new("payments-api"))
                .unwrap();
            em.add_owner(&target.object_id, &operator_sp).unwrap();
            em.add_owner(target.service_principal_id.as_deref().unwrap(), &operator_sp)
                .unwrap();
            let time = TestTime::with_offset(em.clock_offset());
            let clock = em.clone();
            time.on_sleep(move |d| clock.advance(d));
            Self {
                em,
                server,
                tenant,
                operator,
                operator_secret,
                target,
                time,
            }
        }

        /// Moves both clocks.
        pub fn advance(&self, by: Duration) {
            self.time.advance(by);
            self.em.advance(by);
        }

        /// The operator signs in with its client secret.
        pub fn config(&self) -> EntraConfig {
            self.config_with(OperatorSignIn::ClientSecret(ClientSecretSignIn {
                client_id: self.operator.app_id.clone(),
                secret: self.operator_secret.clone(),
            }))
        }

        pub fn config_with(&self, sign_in: OperatorSignIn) -> EntraConfig {
            let mut config = EntraConfig::new(self.tenant.clone(), sign_in);
            config.authority_host = Some(self.server.url().to_owned());
            config.graph_endpoint = Some(self.server.url().to_owned());
            config
        }

        pub fn provider(&self) -> EntraProvider {
            self.provider_with(self.config())
        }

        pub fn provider_with(&self, config: EntraConfig) -> EntraProvider {
            EntraProvider::with_time(config, self.time.clone(), self.time.clone()).unwrap()
        }

        /// The target application, by client id.
        pub fn target_app(&self) -> ApplicationRef {
            ApplicationRef {
                id: ApplicationId::ClientId(self.target.app_id.clone()),
                holder: CredentialHolder::Application,
            }
        }

        /// Token requests the emulator served so far.
        pub fn token_requests(&self) -> usize {
            self.em
                .audit_log()
                .iter()
                .filter(|e| e.path.ends_with("/oauth2/v2.0/token"))
                .count()
        }
    }
}

/// How a verification driven by [`verify`] ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    /// Enough consecutive successes.
    Yes,
    /// The deadline came first.
    TimedOut,
    /// The provider refused the credential for good, with this reason.
    Refused(String),
}

/// Verifies `secret` the way the controller does (one check per due time, the rules of
/// `rotation::verification`), sleeping on `time` between checks: the state is what the controller
/// persists in `status.rotation.verification` between reconciles.
pub async fn verify(
    provider: &dyn secret_rotator::provider::CredentialProvider,
    app: &secret_rotator::provider::ApplicationRef,
    secret: &secrecy::SecretString,
    timeout: Duration,
    time: &TestTime,
) -> (secret_rotator::api::VerificationProgress, Verified) {
    use secret_rotator::rotation::{
        StepFailure,
        verification::{self, Verdict},
    };
    let timeout = jiff::SignedDuration::try_from(timeout).unwrap();
    let mut progress = verification::start(time.now(), timeout);
    loop {
        if verification::timed_out(&progress, time.now()) {
            return (progress, Verified::TimedOut);
        }
        if let Some(due) = verification::next_check_at(&progress)
            && due > time.now()
        {
            time.sleep(due.duration_since(time.now()).unsigned_abs()).await;
            continue;
        }
        let result = provider.check(app, secret).await;
        let failure = result.as_ref().err().map(StepFailure::from);
        let result = result.map_err(|_| failure.as_ref().expect("an error"));
        match verification::record_check(&mut progress, time.now(), result) {
            Verdict::Pending => {}
            Verdict::Verified => return (progress, Verified::Yes),
            Verdict::Refused { reason, .. } => return (progress, Verified::Refused(reason)),
        }
    }
}
