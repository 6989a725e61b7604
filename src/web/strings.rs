//! Every word the web pages show, one table per shipped locale (the same locales as the
//! texts: [`crate::templates::SHIPPED_LOCALES`]). `{program}` stands for the program's name.

use serde::Serialize;

/// The join page's words in one language.
#[derive(Debug, Serialize)]
pub struct JoinStrings {
    pub locale: &'static str,
    /// The language's own name, in the language switcher.
    pub language: &'static str,
    /// `ltr` or `rtl`.
    pub dir: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub phone_label: &'static str,
    pub phone_hint: &'static str,
    pub name_label: &'static str,
    pub submit: &'static str,
    /// What the customer agrees to (CTIA: program, frequency, rates, HELP and STOP).
    pub disclosure: &'static str,
    pub done_title: &'static str,
    pub done_body: &'static str,
    pub error_phone: &'static str,
    pub error_name: &'static str,
    pub error_quick: &'static str,
    pub error_expired: &'static str,
    pub error_limited: &'static str,
    pub error_unavailable: &'static str,
    /// The bot trap's label, for the screen readers that might still reach it.
    pub trap_label: &'static str,
    pub languages_label: &'static str,
    pub not_found: &'static str,
    /// The poster's call to action: `{keyword}` and `{number}` are filled in.
    pub poster_text: &'static str,
    pub poster_scan: &'static str,
    pub poster_web: &'static str,
    pub poster_print: &'static str,
}

pub static JOIN: [JoinStrings; 4] = [
    JoinStrings {
        locale: "en",
        language: "English",
        dir: "ltr",
        title: "Join {program}",
        intro: "Collect points at every visit and get rewards by text. No app and no card: your phone number is your card.",
        phone_label: "Mobile number",
        phone_hint: "We will text this number once to confirm.",
        name_label: "First name (optional)",
        submit: "Join",
        disclosure: "By joining, you agree to receive recurring automated loyalty and marketing texts from {program} at this number. Up to 6 msgs/mo. Consent is not a condition of purchase. Msg&data rates may apply. Reply HELP for help, STOP to opt out.",
        done_title: "Check your phone",
        done_body: "If this number can join, we have sent it a text. Reply YES to that text to start collecting points.",
        error_phone: "This does not look like a mobile number. Please check it.",
        error_name: "Please keep your first name under 50 characters.",
        error_quick: "That was quick! Please check your details and send the form again.",
        error_expired: "This form has expired. Please send it again.",
        error_limited: "Too many tries. Please wait a while and try again.",
        error_unavailable: "Something went wrong on our side. Please try again in a minute.",
        trap_label: "Leave this field empty",
        languages_label: "Language",
        not_found: "There is no loyalty program here.",
        poster_text: "Text {keyword} to {number}",
        poster_scan: "Scan with your phone's camera to open a text, ready to send.",
        poster_web: "Or join online",
        poster_print: "To print, use your browser's Print command.",
    },
    JoinStrings {
        locale: "es",
        language: "Español",
        dir: "ltr",
        title: "Únete a {program}",
        intro: "Suma puntos en cada visita y recibe recompensas por SMS. Sin app ni tarjeta: tu número de teléfono es tu tarjeta.",
        phone_label: "Número de móvil",
        phone_hint: "Te enviaremos un SMS a este número para confirmar.",
        name_label: "Nombre (opcional)",
        submit: "Unirme",
        disclosure: "Al unirte, aceptas recibir mensajes automáticos recurrentes de fidelización y marketing de {program} en este número. Hasta 6 msjs/mes. El consentimiento no es condición de compra. Pueden aplicar tarifas de mensajes y datos. Responde AYUDA para ayuda, ALTO para salir.",
        done_title: "Revisa tu teléfono",
        done_body: "Si este número puede unirse, le hemos enviado un SMS. Responde SI a ese mensaje para empezar a sumar puntos.",
        error_phone: "Esto no parece un número de móvil. Por favor, revísalo.",
        error_name: "Usa menos de 50 caracteres para tu nombre.",
        error_quick: "¡Qué rápido! Revisa tus datos y envía el formulario de nuevo.",
        error_expired: "Este formulario ha caducado. Envíalo de nuevo.",
        error_limited: "Demasiados intentos. Espera un rato y vuelve a intentarlo.",
        error_unavailable: "Algo salió mal por nuestra parte. Inténtalo de nuevo en un minuto.",
        trap_label: "Deja este campo vacío",
        languages_label: "Idioma",
        not_found: "Aquí no hay ningún programa de fidelización.",
        poster_text: "Envía {keyword} al {number}",
        poster_scan: "Escanea con la cámara de tu teléfono para abrir un SMS listo para enviar.",
        poster_web: "O únete en línea",
        poster_print: "Para imprimir, usa la opción Imprimir de tu navegador.",
    },
    JoinStrings {
        locale: "pt",
        language: "Português",
        dir: "ltr",
        title: "Participe do {program}",
        intro: "Ganhe pontos a cada visita e receba recompensas por SMS. Sem app e sem cartão: seu número de telefone é o seu cartão.",
        phone_label: "Número de celular",
        phone_hint: "Enviaremos um SMS a este número para confirmar.",
        name_label: "Nome (opcional)",
        submit: "Participar",
        disclosure: "Ao participar, você concorda em receber mensagens automáticas recorrentes de fidelidade e marketing de {program} neste número. Até 6 msgs/mês. O consentimento não é condição de compra. Podem ser cobradas tarifas de mensagens e dados. Responda AJUDA para ajuda, PARAR para sair.",
        done_title: "Confira seu celular",
        done_body: "Se este número puder participar, enviamos um SMS a ele. Responda SIM a essa mensagem para começar a ganhar pontos.",
        error_phone: "Isto não parece um número de celular. Confira, por favor.",
        error_name: "Use menos de 50 caracteres no seu nome.",
        error_quick: "Que rápido! Confira seus dados e envie o formulário de novo.",
        error_expired: "Este formulário expirou. Envie de novo, por favor.",
        error_limited: "Muitas tentativas. Aguarde um pouco e tente de novo.",
        error_unavailable: "Algo deu errado do nosso lado. Tente de novo em um minuto.",
        trap_label: "Deixe este campo vazio",
        languages_label: "Idioma",
        not_found: "Não há nenhum programa de fidelidade aqui.",
        poster_text: "Envie {keyword} para {number}",
        poster_scan: "Aponte a câmera do celular para abrir um SMS pronto para enviar.",
        poster_web: "Ou participe pela internet",
        poster_print: "Para imprimir, use a opção Imprimir do navegador.",
    },
    JoinStrings {
        locale: "ar",
        language: "العربية",
        dir: "rtl",
        title: "انضم إلى {program}",
        intro: "اجمع النقاط في كل زيارة واحصل على المكافآت عبر الرسائل النصية. بلا تطبيق وبلا بطاقة: رقم هاتفك هو بطاقتك.",
        phone_label: "رقم الجوال",
        phone_hint: "سنرسل رسالة واحدة إلى هذا الرقم للتأكيد.",
        name_label: "الاسم الأول (اختياري)",
        submit: "انضم",
        disclosure: "بالانضمام، توافق على تلقي رسائل نصية آلية متكررة للولاء والتسويق من {program} على هذا الرقم. حتى 6 رسائل شهريًا. الموافقة ليست شرطًا للشراء. قد تُطبق رسوم الرسائل والبيانات. أرسل HELP للمساعدة و STOP لإلغاء الاشتراك.",
        done_title: "تحقق من هاتفك",
        done_body: "إذا كان بإمكان هذا الرقم الانضمام، فقد أرسلنا إليه رسالة. أرسل YES ردًا عليها لتبدأ في جمع النقاط.",
        error_phone: "لا يبدو هذا رقم جوال. يرجى التحقق منه.",
        error_name: "يرجى ألا يتجاوز الاسم 50 حرفًا.",
        error_quick: "كان ذلك سريعًا! يرجى التحقق من بياناتك وإرسال النموذج مرة أخرى.",
        error_expired: "انتهت صلاحية هذا النموذج. يرجى إرساله مرة أخرى.",
        error_limited: "محاولات كثيرة جدًا. يرجى الانتظار قليلًا ثم المحاولة مرة أخرى.",
        error_unavailable: "حدث خطأ من جهتنا. يرجى المحاولة مرة أخرى بعد دقيقة.",
        trap_label: "اترك هذا الحقل فارغًا",
        languages_label: "اللغة",
        not_found: "لا يوجد برنامج ولاء هنا.",
        poster_text: "أرسل {keyword} إلى {number}",
        poster_scan: "امسح الرمز بكاميرا هاتفك لفتح رسالة جاهزة للإرسال.",
        poster_web: "أو انضم عبر الإنترنت",
        poster_print: "للطباعة، استخدم أمر الطباعة في المتصفح.",
    },
];

/// The join page's words in `locale`, else in English.
pub fn join(locale: &str) -> &'static JoinStrings {
    JOIN.iter().find(|s| s.locale == locale).unwrap_or(&JOIN[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_locale_has_the_join_page_and_its_disclosure_names_the_program() {
        for locale in crate::templates::SHIPPED_LOCALES {
            let strings = join(locale);
            assert_eq!(&strings.locale, locale);
            assert!(strings.title.contains("{program}"), "{locale}");
            assert!(strings.disclosure.contains("{program}"), "{locale}");
            assert!(
                strings.disclosure.contains("STOP")
                    || strings.disclosure.contains("ALTO")
                    || strings.disclosure.contains("PARAR"),
                "{locale}"
            );
        }
    }
}

/// The dashboard's words. The dashboard is in English; its words are all here, so a
/// translation is one more table like this one.
#[derive(Debug, Serialize)]
pub struct DashboardStrings {
    pub locale: &'static str,
    pub product: &'static str,
    pub sign_in_title: &'static str,
    pub sign_in_intro: &'static str,
    pub key_label: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub signed_in_as: &'static str,
    pub error_key: &'static str,
    pub error_throttled: &'static str,
    pub error_form: &'static str,
    pub error_unavailable: &'static str,
    pub overview: &'static str,
    pub filters: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub location: &'static str,
    pub all_locations: &'static str,
    pub apply: &'static str,
    pub members: &'static str,
    pub active: &'static str,
    pub pending: &'static str,
    pub opted_out: &'static str,
    pub new_members: &'static str,
    pub visits: &'static str,
    pub repeat_rate: &'static str,
    pub points_issued: &'static str,
    pub points_redeemed: &'static str,
    pub points_expired: &'static str,
    pub points_outstanding: &'static str,
    pub liability: &'static str,
    pub liability_unknown: &'static str,
    pub redemption_rate: &'static str,
    pub breakage_rate: &'static str,
    pub rewards_issued: &'static str,
    pub rewards_redeemed: &'static str,
    pub per_day: &'static str,
    pub date: &'static str,
    pub as_table: &'static str,
    pub error_filters: &'static str,
}

pub static DASHBOARD: DashboardStrings = DashboardStrings {
    locale: "en",
    product: "Loyalty dashboard",
    sign_in_title: "Sign in",
    sign_in_intro: "Sign in with an API key of scope marketing or admin.",
    key_label: "API key",
    sign_in: "Sign in",
    sign_out: "Sign out",
    signed_in_as: "Signed in as",
    error_key: "This key cannot sign in to the dashboard.",
    error_throttled: "Too many failed sign-ins from here. Please wait a few minutes.",
    error_form: "This form has expired. Please send it again.",
    error_unavailable: "The service is unavailable right now. Please try again in a minute.",
    overview: "Overview",
    filters: "Period and location",
    from: "From",
    to: "To",
    location: "Location",
    all_locations: "All locations",
    apply: "Apply",
    members: "Members",
    active: "active",
    pending: "waiting for YES",
    opted_out: "opted out",
    new_members: "New members",
    visits: "Visits",
    repeat_rate: "Repeat visit rate",
    points_issued: "Points issued",
    points_redeemed: "Points redeemed",
    points_expired: "Points expired",
    points_outstanding: "Points outstanding",
    liability: "Liability",
    liability_unknown: "set value_per_point to see it in money",
    redemption_rate: "Redemption rate",
    breakage_rate: "Breakage",
    rewards_issued: "Rewards issued",
    rewards_redeemed: "Rewards redeemed",
    per_day: "per day",
    date: "Date",
    as_table: "The same as a table",
    error_filters: "Those filters do not work",
};
